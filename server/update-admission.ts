/**
 * Decides, before Yjs applies an update, whether the room accepts it: the update's shape (see
 * `update-shape.ts`) is checked against the document as it is now, so that nothing costly or
 * unreadable gets in and the cost of applying it is bounded by counts, not by luck.
 *
 * - **Nothing left pending.** Every struct block starts at or below what the document holds from
 *   that client, every id an item refers to exists (in the document or the update), and every delete
 *   range ends within what will exist. Otherwise Yjs would keep the update in memory as "pending"
 *   and retry it on every later update; a stock client that reconnects sends what was missing.
 * - **Bounded growth.** New client ids, subdocuments and root types per update and per room.
 * - **Bounded split work.** Yjs splits an item wherever an insert's origin or a delete range falls
 *   inside it; each split costs microseconds and shifts every later struct of that client in an
 *   array, so a few hundred KB of such references cost seconds (O(n²) in the worst order). The
 *   update's split work is computed here, with a binary search per reference, and compared with
 *   `maxSplitWork`.
 */
import * as Y from 'yjs'
import type { UpdateShape } from './update-shape.ts'

export interface UpdateLimits {
  /** New client ids one update may introduce. */
  maxUpdateClients: number
  /** Client ids a room's document may hold. */
  maxRoomClients: number
  /** Subdocuments one update may create. */
  maxUpdateSubdocs: number
  /** Subdocuments a room's document may hold. */
  maxRoomSubdocs: number
  /** Root types (named top-level types) a room's document may hold. */
  maxRootTypes: number
  /**
   * Work units one update may cause by splitting items: each split costs `SPLIT_COST` plus the
   * number of structs it shifts in its client's array.
   */
  maxSplitWork: number
}

/**
 * What one split costs besides the shift, in shift units: measured on this codebase's machine, a
 * split with nothing to shift takes about 7 µs (item allocation, deletion, GC bookkeeping), a shift
 * about 1 ns, so one unit is about a nanosecond.
 */
export const SPLIT_COST = 7_000

/** Why the room refuses an update: `limit` (a bound) or `pending` (depends on what it lacks). */
export class UpdateRefusal extends Error {
  constructor(
    readonly kind: 'limit' | 'pending',
    message: string,
  ) {
    super(message)
    this.name = 'UpdateRefusal'
  }
}

/** Throws UpdateRefusal if `doc` must not apply an update of this `shape`. */
export function admitUpdate(doc: Y.Doc, shape: UpdateShape, limits: UpdateLimits): void {
  const clients = doc.store.clients
  /** Per client touched by the update's structs: the state after it, and its new struct count. */
  const after = new Map<number, { state: number; starts: number[] }>()
  let newClients = 0
  for (const block of shape.blocks) {
    const state = Y.getState(doc.store, block.client)
    if (block.clock > state) {
      throw new UpdateRefusal(
        'pending',
        `structs of client ${block.client} start at ${block.clock} but the room holds up to ${state}`,
      )
    }
    if (!clients.has(block.client)) newClients++
    after.set(block.client, { state: Math.max(state, block.end), starts: block.starts })
  }
  if (newClients > limits.maxUpdateClients) {
    throw new UpdateRefusal(
      'limit',
      `update introduces ${newClients} client ids (limit ${limits.maxUpdateClients})`,
    )
  }
  if (clients.size + newClients > limits.maxRoomClients) {
    throw new UpdateRefusal('limit', `document would hold more than ${limits.maxRoomClients} client ids`)
  }
  if (shape.subdocs > limits.maxUpdateSubdocs) {
    throw new UpdateRefusal(
      'limit',
      `update creates ${shape.subdocs} subdocuments (limit ${limits.maxUpdateSubdocs})`,
    )
  }
  if (shape.subdocs > 0 && doc.subdocs.size + shape.subdocs > limits.maxRoomSubdocs) {
    throw new UpdateRefusal('limit', `document would hold more than ${limits.maxRoomSubdocs} subdocuments`)
  }
  let newRootTypes = 0
  for (const name of shape.rootTypes) if (!doc.share.has(name)) newRootTypes++
  if (newRootTypes > 0 && doc.share.size + newRootTypes > limits.maxRootTypes) {
    throw new UpdateRefusal('limit', `document would hold more than ${limits.maxRootTypes} root types`)
  }

  const stateAfter = (client: number) => after.get(client)?.state ?? Y.getState(doc.store, client)
  let work = 0
  const split = (client: number, boundary: number, deletion: boolean) => {
    const structs = clients.get(client)
    const held = structs ? Y.getState(doc.store, client) : 0
    const starts = after.get(client)?.starts ?? []
    if (boundary >= held) {
      // Among the update's own new structs: a split shifts the new structs after it.
      const index = firstAtOrAfter(starts, boundary)
      if (index < starts.length && starts[index] !== boundary) work += SPLIT_COST + starts.length - index
      return
    }
    const index = Y.findIndexSS(structs!, boundary)
    const struct = structs![index]
    if (struct.id.clock === boundary || (deletion && struct.deleted)) return
    work += SPLIT_COST + structs!.length - index + starts.length
  }

  const refs = shape.references
  for (let i = 0; i < refs.length; i += 3) {
    const client = refs[i]
    const clock = refs[i + 1]
    const kind = refs[i + 2]
    if (clock >= stateAfter(client)) {
      throw new UpdateRefusal('pending', `an item refers to ${client}:${clock}, which the room does not hold`)
    }
    if (kind === 0) split(client, clock + 1, false)
    else if (kind === 1) split(client, clock, false)
  }
  for (const [client, ranges] of shape.deletes) {
    if (ranges.length === 0) continue
    const lastEnd = ranges[ranges.length - 2] + ranges[ranges.length - 1]
    if (lastEnd > stateAfter(client)) {
      throw new UpdateRefusal(
        'pending',
        `a deletion of ${client}:${lastEnd - 1} refers to what the room does not hold`,
      )
    }
    for (let i = 0; i < ranges.length; i += 2) {
      if (ranges[i + 1] === 0) continue
      split(client, ranges[i], true)
      split(client, ranges[i] + ranges[i + 1], true)
    }
  }
  if (work > limits.maxSplitWork) {
    throw new UpdateRefusal(
      'limit',
      `update would cost ${work} units of item splitting (limit ${limits.maxSplitWork})`,
    )
  }
}

/** Index of the first element of ascending `values` that is >= `value` (binary search). */
function firstAtOrAfter(values: number[], value: number): number {
  let low = 0
  let high = values.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (values[mid] < value) low = mid + 1
    else high = mid
  }
  return low
}
