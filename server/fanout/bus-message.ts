/**
 * The frames instances exchange on Redis (written down in PROTOCOL.md, "Fan-out between
 * instances"): on a room's channel, every entry an instance published for the room during one
 * event-loop turn (one PUBLISH, however many updates a group commit relayed, split into several
 * frames past the bus's frame bound); on the policy channel, policy announcements. lib0-encoded:
 *
 *   varUint   version (1)
 *   varString sender instance id (an instance ignores its own frames)
 *   float64   sent at (ms since the epoch; for the fan-out latency metric)
 *   varUint   entry count (at least 1)
 *   entries, in the order they were published:
 *     varUint       kind: 0 update (a committed Yjs update), 1 awareness (an awareness update,
 *                   removals included), 2 resync (the sender may have failed to publish
 *                   something, or published an update too large for a frame: re-read the room
 *                   from the shared store), 3 policy (policy channel only: the room's policy
 *                   changed in the store; re-read it)
 *     varUint8Array payload (empty for resync; the room name, UTF-8, for policy)
 *
 * Redis is infrastructure we run, but a frame is still read defensively: a malformed one is
 * reported and dropped, never thrown into the subscriber's callback.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

export const BUS_VERSION = 1

export const BusKind = { update: 0, awareness: 1, resync: 2, policy: 3 } as const
export type BusKind = (typeof BusKind)[keyof typeof BusKind]

export interface BusEntry {
  kind: BusKind
  payload: Uint8Array
}

export interface BusFrame {
  sender: string
  sentAt: number
  entries: BusEntry[]
}

/** A bus frame that is not a whole frame of a known version and kinds (decodeBusFrame). */
export class BusMessageError extends Error {
  override readonly name = 'BusMessageError'
}

export function encodeBusFrame(
  sender: string,
  entries: readonly BusEntry[],
  sentAt = Date.now(),
): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, BUS_VERSION)
  encoding.writeVarString(encoder, sender)
  encoding.writeFloat64(encoder, sentAt)
  encoding.writeVarUint(encoder, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(encoder, entry.kind)
    encoding.writeVarUint8Array(encoder, entry.payload)
  }
  return encoding.toUint8Array(encoder)
}

/** Bytes a frame adds around its entries' payloads, at most (header, and per entry kind and length). */
export const FRAME_HEADER_BYTES = 64
export const ENTRY_HEADER_BYTES = 8

/** Reads a frame; throws BusMessageError for anything that is not a whole, known frame. */
export function decodeBusFrame(frame: Uint8Array): BusFrame {
  try {
    const decoder = decoding.createDecoder(frame)
    const version = decoding.readVarUint(decoder)
    if (version !== BUS_VERSION) throw new BusMessageError(`unknown bus frame version ${version}`)
    const sender = decoding.readVarString(decoder)
    const sentAt = decoding.readFloat64(decoder)
    const count = decoding.readVarUint(decoder)
    // Each entry takes at least two bytes: a count past that is a lie, not a reason to loop.
    if (count === 0 || count * 2 > frame.byteLength - decoder.pos) {
      throw new BusMessageError(`bus frame claims ${count} entries`)
    }
    const entries: BusEntry[] = []
    for (let i = 0; i < count; i++) {
      const kind = decoding.readVarUint(decoder)
      if (
        kind !== BusKind.update &&
        kind !== BusKind.awareness &&
        kind !== BusKind.resync &&
        kind !== BusKind.policy
      ) {
        throw new BusMessageError(`unknown bus entry kind ${kind}`)
      }
      entries.push({ kind, payload: decoding.readVarUint8Array(decoder) })
    }
    if (decoding.hasContent(decoder)) throw new BusMessageError('bus frame has trailing bytes')
    return { sender, sentAt, entries }
  } catch (err) {
    if (err instanceof BusMessageError) throw err
    throw new BusMessageError(`malformed bus frame: ${(err as Error).message}`)
  }
}
