/**
 * Cuts a large Yjs update (encoding V1) into smaller updates that, applied in order, do what it does:
 * how legitimate large work (a long offline session) gets in without stalling the process. A room
 * applies one slice per event-loop turn, so other rooms and connections run between them.
 *
 * Struct slices: V1 structs carry absolute ids, so a run of a block's structs, copied byte for byte
 * behind a new block header (`count client clock`), is a valid block. Slices are cut so that every
 * id a slice's items refer to is in the document or in an earlier (or the same) slice: per block a
 * cursor advances while the next struct's references are satisfied, over the blocks in turn, until
 * the slice's price reaches the target. Items can only refer to what existed when they were made,
 * so a well-formed update always progresses; one that cannot is refused (its items refer to each
 * other in a cycle, which Yjs would keep pending forever).
 *
 * Delete slices: the delete set goes last (every struct it names exists by then), cut into runs
 * that each make Yjs visit at most a target number of structs.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { floorWork, PRICES, UpdateRefusal } from './update-admission.ts'
import type { UpdateShape } from './update-shape.ts'

/** Dependency checks the slicer may make per struct on average before it gives up (4413). */
const CHECKS_PER_STRUCT = 64

/**
 * Bytes a slice may carry: well under a fan-out frame (1 MiB), so each slice crosses Redis as an
 * ordinary frame rather than by reference (which makes every other instance re-read the room).
 */
export const MAX_SLICE_BYTES = 512 * 1024

/** UTF-8 bytes per chunk of a long string item. */
const CHUNK_BYTES = 256 * 1024

const INFO_ORIGIN = 128
const INFO_RIGHT_ORIGIN = 64
const INFO_PARENT_SUB = 32
const CONTENT_STRING = 4

/**
 * A string item (`update[start, end)`, by `client` at `clock`) as updates of one item each, cut at
 * UTF-8 character boundaries every ~CHUNK_BYTES and chained the way Yjs splits an item: each later
 * chunk's origin is the previous chunk's last character and its right origin the item's own, so
 * the document ends up exactly as with the whole item (Yjs merges them back). Each chunk is built
 * when it is applied (decoding 20 MB at once would take a turn of its own); call them in order.
 * Null when the struct is not such an item.
 */
function splitString(
  update: Uint8Array,
  client: number,
  clock: number,
  start: number,
  end: number,
): Array<() => Uint8Array> | null {
  const decoder = decoding.createDecoder(update.subarray(start, end))
  const info = decoding.readUint8(decoder)
  if ((info & 31) !== CONTENT_STRING) return null
  let right: [number, number] | null = null
  if (info & INFO_ORIGIN) {
    decoding.readVarUint(decoder)
    decoding.readVarUint(decoder)
  }
  if (info & INFO_RIGHT_ORIGIN) right = [decoding.readVarUint(decoder), decoding.readVarUint(decoder)]
  if ((info & (INFO_ORIGIN | INFO_RIGHT_ORIGIN)) === 0) {
    if (info & INFO_PARENT_SUB) return null
    if (decoding.readVarUint(decoder) === 1) decoding.readVarString(decoder)
    else {
      decoding.readVarUint(decoder)
      decoding.readVarUint(decoder)
    }
  }
  const header = update.subarray(start, start + decoder.pos)
  const length = decoding.readVarUint(decoder)
  const bytes = update.subarray(start + decoder.pos, start + decoder.pos + length)
  const cuts = [0]
  while (cuts[cuts.length - 1] < bytes.length) {
    let cut = Math.min(bytes.length, cuts[cuts.length - 1] + CHUNK_BYTES)
    // Back to the start of a character (UTF-8 continuation bytes are 10xxxxxx).
    while (cut < bytes.length && (bytes[cut] & 0xc0) === 0x80) cut--
    cuts.push(cut)
  }
  let next = clock
  return cuts.slice(1).map((cut, k) => () => {
    const part = bytes.subarray(cuts[k], cut)
    const at = next
    next += utf8.decode(part).length
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 1)
    encoding.writeVarUint(encoder, 1)
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, at)
    if (k === 0) encoding.writeUint8Array(encoder, header)
    else {
      encoding.writeUint8(encoder, CONTENT_STRING | INFO_ORIGIN | (right ? INFO_RIGHT_ORIGIN : 0))
      encoding.writeVarUint(encoder, client)
      encoding.writeVarUint(encoder, at - 1)
      if (right) {
        encoding.writeVarUint(encoder, right[0])
        encoding.writeVarUint(encoder, right[1])
      }
    }
    encoding.writeVarUint8Array(encoder, part)
    encoding.writeVarUint(encoder, 0)
    return encoding.toUint8Array(encoder)
  })
}

const utf8 = new TextDecoder()

/** A slice, or one built when it is applied (see splitString). */
export type Slice = Uint8Array | (() => Uint8Array)

/** The bytes of `slice`. */
export const sliceBytes = (slice: Slice): Uint8Array => (typeof slice === 'function' ? slice() : slice)

/**
 * The struct part of `update` as updates of at most ~`target` ns of work each (see PRICES), in the
 * order they must be applied to `doc`. Throws UpdateRefusal when no order exists.
 */
export function sliceStructs(doc: Y.Doc, update: Uint8Array, shape: UpdateShape, target: number): Slice[] {
  const blocks = shape.blocks
  const blockOf = new Map(blocks.map((block, index) => [block.client, index]))
  const cursor = blocks.map(() => 0)
  const refs = shape.references
  let remaining = shape.structCount
  let checks = 0
  const maxChecks = CHECKS_PER_STRUCT * shape.structCount + 1_000
  /** True when every id struct `i` of block `b` refers to is held or already sliced. */
  const ready = (b: number, i: number): boolean => {
    const block = blocks[b]
    for (let r = block.firstReference[i]; r < block.firstReference[i + 1]; r++) {
      const client = refs[3 * r]
      const clock = refs[3 * r + 1]
      if (clock < Y.getState(doc.store, client)) continue
      const other = blockOf.get(client)
      if (other === undefined) return false
      const done = blocks[other]
      const at = cursor[other]
      if (clock >= (at < done.starts.length ? done.starts[at] : done.end)) return false
    }
    return true
  }
  const slices: Slice[] = []
  while (remaining > 0) {
    const from = cursor.slice()
    let price = 0
    let bytes = 0
    let full = false
    let advanced = true
    fill: while (advanced && !full) {
      advanced = false
      for (let b = 0; b < blocks.length; b++) {
        const block = blocks[b]
        while (cursor[b] < block.starts.length) {
          if (price >= target) {
            full = true
            break fill
          }
          if (++checks > maxChecks) {
            throw new UpdateRefusal('limit', 'update is too entangled to apply in steps')
          }
          const i = cursor[b]
          if (!ready(b, i)) break
          const size = block.offsets[i + 1] - block.offsets[i]
          if (price > 0 && bytes + size > MAX_SLICE_BYTES) {
            full = true
            break fill
          }
          if (size > MAX_SLICE_BYTES) {
            // Alone in its slice; a long string is cut into chained items of its own.
            const chunks = splitString(
              update,
              block.client,
              block.starts[i],
              block.offsets[i],
              block.offsets[i + 1],
            )
            if (chunks) {
              slices.push(...chunks)
              cursor[b]++
              from[b] = cursor[b]
              remaining--
              full = true
              break fill
            }
          }
          price += floorWork(size, 1)
          bytes += size
          cursor[b]++
          remaining--
          advanced = true
        }
      }
    }
    const runs: number[] = []
    for (let b = 0; b < blocks.length; b++) if (cursor[b] > from[b]) runs.push(b)
    if (runs.length === 0) {
      if (full) continue
      throw new UpdateRefusal('pending', "the update's items refer to each other in a cycle")
    }
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, runs.length)
    for (const b of runs) {
      const block = blocks[b]
      encoding.writeVarUint(encoder, cursor[b] - from[b])
      encoding.writeVarUint(encoder, block.client)
      encoding.writeVarUint(encoder, block.starts[from[b]])
      encoding.writeUint8Array(encoder, update.subarray(block.offsets[from[b]], block.offsets[cursor[b]]))
    }
    encoding.writeVarUint(encoder, 0)
    slices.push(encoding.toUint8Array(encoder))
  }
  return slices
}

/**
 * `deletes` (client → flattened (clock, len) ranges, ascending) as updates with no structs, each
 * making Yjs visit at most ~`target` ns worth of `doc`'s structs. Call once the structs the ranges
 * name are in `doc`.
 */
export function sliceDeletes(doc: Y.Doc, deletes: Map<number, number[]>, target: number): Uint8Array[] {
  const perSlice = Math.max(1, Math.floor(target / PRICES.deleteStruct))
  const slices: Uint8Array[] = []
  let current = new Map<number, number[]>()
  let visited = 0
  const flush = () => {
    if (current.size === 0) return
    slices.push(encodeDeleteSetUpdate(current))
    current = new Map()
    visited = 0
  }
  const push = (client: number, clock: number, len: number) => {
    let ranges = current.get(client)
    if (!ranges) {
      ranges = []
      current.set(client, ranges)
    }
    ranges.push(clock, len)
  }
  for (const [client, ranges] of deletes) {
    const structs = doc.store.clients.get(client)
    for (let i = 0; i < ranges.length; i += 2) {
      let clock = ranges[i]
      const end = clock + ranges[i + 1]
      while (clock < end) {
        if (visited >= perSlice) flush()
        if (!structs) {
          push(client, clock, end - clock)
          break
        }
        const first = Y.findIndexSS(structs, clock)
        const last = Y.findIndexSS(structs, end - 1)
        const room = perSlice - visited
        if (last - first + 1 <= room) {
          push(client, clock, end - clock)
          visited += last - first + 1
          break
        }
        // Cut at the start of the struct `room` structs further on.
        const cut = structs[first + room].id.clock
        push(client, clock, cut - clock)
        clock = cut
        flush()
      }
    }
  }
  flush()
  return slices
}

/** An update with no structs and the delete set `deletes`. */
function encodeDeleteSetUpdate(deletes: Map<number, number[]>): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, deletes.size)
  for (const [client, ranges] of deletes) {
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, ranges.length / 2)
    for (const value of ranges) encoding.writeVarUint(encoder, value)
  }
  return encoding.toUint8Array(encoder)
}
