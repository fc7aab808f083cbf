/**
 * Reads a y-protocols awareness update into its entries, bounding each state before anything
 * parses it: at most `maxStateBytes` of JSON nested at most `maxJsonDepth` deep. (A state nested
 * thousands deep parses, but serializing it again for the next joiner overflows the stack.) Its
 * `user` field must then follow shared/protocol/presence.ts: other clients write the colours into
 * style attributes and show the name.
 *
 *   awarenessUpdate = n × (clientID:varUint clock:varUint state:varString(JSON, "null" = removed))
 *
 * `encodeAwarenessEntries` writes entries back in the same format, so the room can apply and relay
 * only the entries a connection may touch.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { presenceUserProblem } from '../../shared/protocol/index.ts'
import { checkJson, UpdateShapeError } from './update-shape.ts'

export interface AwarenessEntry {
  clientID: number
  clock: number
  /** The state as JSON text (`null` when the client is removed). */
  json: string
}

export interface AwarenessLimits {
  maxAwarenessStateBytes: number
  maxJsonDepth: number
}

/**
 * Reads `update`; throws UpdateShapeError when it is too big (`limit`), or bad or carries a `user`
 * field unfit for other people's DOM (`malformed`).
 */
export function readAwarenessEntries(update: Uint8Array, limits: AwarenessLimits): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  const entries: AwarenessEntry[] = []
  try {
    const count = decoding.readVarUint(decoder)
    if (count * 3 > update.length)
      throw new UpdateShapeError('malformed', `${count} awareness entries do not fit`)
    for (let i = 0; i < count; i++) {
      const clientID = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      const start = decoder.pos
      const bytes = decoding.readVarUint(decoder)
      if (bytes > limits.maxAwarenessStateBytes) {
        throw new UpdateShapeError(
          'limit',
          `awareness state of ${bytes} bytes (limit ${limits.maxAwarenessStateBytes})`,
        )
      }
      decoder.pos = start
      const json = decoding.readVarString(decoder)
      checkJson(json, limits.maxJsonDepth)
      const problem = presenceUserProblem(JSON.parse(json))
      if (problem) throw new UpdateShapeError('malformed', `client ${clientID}: ${problem}`)
      entries.push({ clientID, clock, json })
    }
  } catch (err) {
    if (err instanceof UpdateShapeError) throw err
    throw new UpdateShapeError('malformed', err instanceof Error ? err.message : String(err))
  }
  if (decoder.pos !== update.length) {
    throw new UpdateShapeError('malformed', `${update.length - decoder.pos} trailing bytes`)
  }
  return entries
}

/** Encodes `entries` as an awareness update. */
export function encodeAwarenessEntries(entries: readonly AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(encoder, entry.clientID)
    encoding.writeVarUint(encoder, entry.clock)
    encoding.writeVarString(encoder, entry.json)
  }
  return encoding.toUint8Array(encoder)
}
