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
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { PRICES, UpdateRefusal } from './update-admission.ts'
import type { UpdateShape } from './update-shape.ts'

/** Dependency checks the slicer may make per struct on average before it gives up (4413). */
const CHECKS_PER_STRUCT = 64

/**
 * The struct part of `update` as updates of at most ~`target` ns of work each (see PRICES), in the
 * order they must be applied to `doc`. Throws UpdateRefusal when no order exists.
 */
export function sliceStructs(
  doc: Y.Doc,
  update: Uint8Array,
  shape: UpdateShape,
  target: number,
): Uint8Array[] {
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
  const slices: Uint8Array[] = []
  while (remaining > 0) {
    const from = cursor.slice()
    let price = 0
    let advanced = true
    while (advanced && price < target) {
      advanced = false
      for (let b = 0; b < blocks.length && price < target; b++) {
        const block = blocks[b]
        while (cursor[b] < block.starts.length && price < target) {
          if (++checks > maxChecks) {
            throw new UpdateRefusal('limit', 'update is too entangled to apply in steps')
          }
          const i = cursor[b]
          if (!ready(b, i)) break
          price +=
            PRICES.structRead + PRICES.structNew + (block.offsets[i + 1] - block.offsets[i]) * PRICES.byte
          cursor[b]++
          remaining--
          advanced = true
        }
      }
    }
    const runs: number[] = []
    for (let b = 0; b < blocks.length; b++) if (cursor[b] > from[b]) runs.push(b)
    if (runs.length === 0) {
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
