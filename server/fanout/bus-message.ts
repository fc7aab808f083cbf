/**
 * The frames instances exchange on a room's Redis channel (written down in PROTOCOL.md, "Fan-out
 * between instances"). Every frame is lib0-encoded:
 *
 *   varUint   version (1)
 *   varString sender instance id (an instance ignores its own frames)
 *   varUint   kind: 0 update (a committed Yjs update), 1 awareness (an awareness update, removals
 *             included), 2 resync (the sender may have failed to publish something: re-read the
 *             room from the shared store)
 *   float64   sent at (ms since the epoch; for the fan-out latency metric)
 *   varUint8Array payload (empty for resync)
 *
 * Redis is infrastructure we run, but a frame is still read defensively: a malformed one is
 * reported and dropped, never thrown into the subscriber's callback.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

export const BUS_VERSION = 1

export const BusKind = { update: 0, awareness: 1, resync: 2 } as const
export type BusKind = (typeof BusKind)[keyof typeof BusKind]

export interface BusMessage {
  sender: string
  kind: BusKind
  sentAt: number
  payload: Uint8Array
}

export class BusMessageError extends Error {
  override name = 'BusMessageError'
}

export function encodeBusMessage(
  sender: string,
  kind: BusKind,
  payload: Uint8Array,
  sentAt = Date.now(),
): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, BUS_VERSION)
  encoding.writeVarString(encoder, sender)
  encoding.writeVarUint(encoder, kind)
  encoding.writeFloat64(encoder, sentAt)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

/** Reads a frame; throws BusMessageError for anything that is not a whole, known frame. */
export function decodeBusMessage(frame: Uint8Array): BusMessage {
  try {
    const decoder = decoding.createDecoder(frame)
    const version = decoding.readVarUint(decoder)
    if (version !== BUS_VERSION) throw new BusMessageError(`unknown bus frame version ${version}`)
    const sender = decoding.readVarString(decoder)
    const kind = decoding.readVarUint(decoder)
    if (kind !== BusKind.update && kind !== BusKind.awareness && kind !== BusKind.resync) {
      throw new BusMessageError(`unknown bus frame kind ${kind}`)
    }
    const sentAt = decoding.readFloat64(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    if (decoding.hasContent(decoder)) throw new BusMessageError('bus frame has trailing bytes')
    return { sender, kind, sentAt, payload }
  } catch (err) {
    if (err instanceof BusMessageError) throw err
    throw new BusMessageError(`malformed bus frame: ${(err as Error).message}`)
  }
}
