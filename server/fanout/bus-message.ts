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
 *     varUint       kind: 0 update (a committed Yjs update without its change id: what instances
 *                   before change ids published; still applied, but the receiver cannot sequence
 *                   it and re-reads its change sequence from the store), 1 awareness (an awareness
 *                   update, removals included), 2 resync (the sender may have failed to publish
 *                   something, or published an update too large for a frame: re-read the room
 *                   from the shared store), 3 policy (policy channel only: the room's policy
 *                   changed in the store; re-read it), 4 change (a committed update with the change
 *                   id the store gave it, its commit time and author: see ChangeEntry)
 *     varUint8Array payload (empty for resync; the room name, UTF-8, for policy)
 *
 * A change entry's payload (`encodeChangeEntry`):
 *
 *   varUint       change id (at least 1)
 *   float64       committed at (ms since the epoch)
 *   varUint       1 with an author, 0 without
 *   varString     the author (only with one)
 *   varUint8Array the Yjs update
 *
 * Redis is infrastructure we run, but a frame is still read defensively: a malformed one is
 * reported and dropped, never thrown into the subscriber's callback.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { VersionInfo, VersionKind } from '../store/history-store.ts'

export const BUS_VERSION = 1

export const BusKind = { update: 0, awareness: 1, resync: 2, policy: 3, change: 4, version: 5 } as const
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
        kind !== BusKind.policy &&
        kind !== BusKind.change &&
        kind !== BusKind.version
      ) {
        throw new BusMessageError(`unknown bus entry kind ${kind}`)
      }
      const payload = decoding.readVarUint8Array(decoder)
      if (kind === BusKind.change) decodeChangeEntry(payload)
      if (kind === BusKind.version) decodeVersionEntry(payload)
      entries.push({ kind, payload })
    }
    if (decoding.hasContent(decoder)) throw new BusMessageError('bus frame has trailing bytes')
    return { sender, sentAt, entries }
  } catch (err) {
    if (err instanceof BusMessageError) throw err
    throw new BusMessageError(`malformed bus frame: ${(err as Error).message}`)
  }
}

/** A committed update with its change id: the payload of a `change` entry. */
export interface ChangeEntry {
  id: number
  at: number
  author: string | null
  update: Uint8Array
}

export function encodeChangeEntry(change: ChangeEntry): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, change.id)
  encoding.writeFloat64(encoder, change.at)
  writeOptionalString(encoder, change.author)
  encoding.writeVarUint8Array(encoder, change.update)
  return encoding.toUint8Array(encoder)
}

/** Reads a change entry's payload; throws BusMessageError for anything but a whole, valid one. */
export function decodeChangeEntry(payload: Uint8Array): ChangeEntry {
  try {
    const decoder = decoding.createDecoder(payload)
    const id = decoding.readVarUint(decoder)
    if (id < 1 || !Number.isSafeInteger(id)) throw new BusMessageError(`change entry with id ${id}`)
    const at = decoding.readFloat64(decoder)
    if (!Number.isFinite(at)) throw new BusMessageError('change entry with a time that is not a number')
    const author = readOptionalString(decoder, 'change entry with author')
    const update = decoding.readVarUint8Array(decoder)
    if (decoding.hasContent(decoder)) throw new BusMessageError('change entry has trailing bytes')
    return { id, at, author, update }
  } catch (err) {
    if (err instanceof BusMessageError) throw err
    throw new BusMessageError(`malformed change entry: ${(err as Error).message}`)
  }
}

const VERSION_KINDS: readonly VersionKind[] = ['auto', 'named', 'restore']

/**
 * A version another instance's history made, for its `version` feed events (PROTOCOL.md, "Fan-out
 * between instances"):
 *
 *   varUint   id (at least 1)            float64   at
 *   varUint   change id                  varUint   kind: 0 auto, 1 named, 2 restore
 *   varUint   1 + varString name, or 0   varUint   length
 *   varUint   author count + varString each
 *   varUint   1 + varString by, or 0     varUint   restored from + 1 (0: none)
 */
export function encodeVersionEntry(version: VersionInfo): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, version.id)
  encoding.writeFloat64(encoder, version.at)
  encoding.writeVarUint(encoder, version.changeId)
  encoding.writeVarUint(encoder, VERSION_KINDS.indexOf(version.kind))
  writeOptionalString(encoder, version.name)
  encoding.writeVarUint(encoder, version.length)
  encoding.writeVarUint(encoder, version.authors.length)
  for (const author of version.authors) encoding.writeVarString(encoder, author)
  writeOptionalString(encoder, version.by)
  encoding.writeVarUint(encoder, version.restoredFrom === null ? 0 : version.restoredFrom + 1)
  return encoding.toUint8Array(encoder)
}

/** Reads a version entry's payload; throws BusMessageError for anything but a whole, valid one. */
export function decodeVersionEntry(payload: Uint8Array): VersionInfo {
  try {
    const decoder = decoding.createDecoder(payload)
    const id = readCount(decoder, 'id')
    if (id < 1) throw new BusMessageError('version entry with id 0')
    const at = decoding.readFloat64(decoder)
    if (!Number.isFinite(at)) throw new BusMessageError('version entry with a time that is not a number')
    const changeId = readCount(decoder, 'change id')
    const kind = VERSION_KINDS[decoding.readVarUint(decoder)]
    if (kind === undefined) throw new BusMessageError('version entry of an unknown kind')
    const name = readOptionalString(decoder, 'version entry with name')
    const length = readCount(decoder, 'length')
    const count = readCount(decoder, 'author count')
    // Each name takes at least a byte: a count past what is left is a lie, not a reason to loop.
    if (count > payload.byteLength - decoder.pos)
      throw new BusMessageError(`version entry claims ${count} authors`)
    const authors: string[] = []
    for (let i = 0; i < count; i++) authors.push(decoding.readVarString(decoder))
    const by = readOptionalString(decoder, 'version entry with by')
    const restored = readCount(decoder, 'restored from')
    if (decoding.hasContent(decoder)) throw new BusMessageError('version entry has trailing bytes')
    return {
      id,
      at,
      changeId,
      kind,
      name,
      length,
      authors,
      by,
      restoredFrom: restored === 0 ? null : restored - 1,
    }
  } catch (err) {
    if (err instanceof BusMessageError) throw err
    throw new BusMessageError(`malformed version entry: ${(err as Error).message}`)
  }
}

function readCount(decoder: decoding.Decoder, what: string): number {
  const value = decoding.readVarUint(decoder)
  if (!Number.isSafeInteger(value)) throw new BusMessageError(`version entry with ${what} ${value}`)
  return value
}

/** `varUint(0)` for null, else `varUint(1) varString(value)`. */
function writeOptionalString(encoder: encoding.Encoder, value: string | null): void {
  encoding.writeVarUint(encoder, value === null ? 0 : 1)
  if (value !== null) encoding.writeVarString(encoder, value)
}

/** Reads what writeOptionalString wrote; a flag past 1 throws BusMessageError naming `what`. */
function readOptionalString(decoder: decoding.Decoder, what: string): string | null {
  const flag = decoding.readVarUint(decoder)
  if (flag > 1) throw new BusMessageError(`${what} flag ${flag}`)
  return flag === 1 ? decoding.readVarString(decoder) : null
}
