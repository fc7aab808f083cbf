/**
 * Decides, before Yjs applies an update, whether the room accepts it, and what applying it will
 * cost: the update's shape (see `update-shape.ts`) is checked against the document as it is now.
 *
 * - **Nothing left pending.** Every struct block starts at or below what the document holds from
 *   that client, every id an item refers to exists (in the document or the update), and every delete
 *   range ends within what will exist. Otherwise Yjs would keep the update in memory as "pending"
 *   and retry it on every later update; a stock client that reconnects sends what was missing.
 * - **Bounded growth.** New client ids, subdocuments and root types per update and per room.
 * - **A price for the work.** Every unit of work applying the update makes Yjs do is counted, in
 *   nanoseconds measured on this codebase's machine (`npm run bench:prices` re-measures them):
 *   structs decoded and integrated, content bytes, structs its delete ranges visit, item splits
 *   (each shifts every later struct of its client), and the walk Yjs' conflict resolution makes
 *   over the items between an insert's origins. The caller compares the total with its budget.
 * - **No work for what is already done.** Delete ranges the document already deleted are dropped
 *   from the update (the room's `DeletedIndex` answers with a binary search), so re-sending a
 *   deletion costs nothing but reading it, and nothing is stored or relayed for it.
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import type { DeletedIndex } from './deleted-index.ts'
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
}

/**
 * What each unit of work costs, in nanoseconds, on the machine the defaults were measured on
 * (2 cores, Node 20), set from medians of repeated runs; `npm run bench:prices` reports, per
 * workload, the estimate against what Yjs spent (0.8-2x of the median on that noisy machine).
 */
export const PRICES = {
  /** Every struct Yjs decodes (it builds an object for each, new or already held). */
  structRead: 400,
  /** Every new struct integrated: its origin lookups, list insertion, struct-store push. */
  structNew: 2_200,
  /** Every byte of the update (string and JSON content decoding). */
  byte: 3,
  /** Every struct a delete range visits in the document (Yjs walks each, deleted or not). */
  deleteStruct: 700,
  /** One item split, besides the structs it shifts (item allocation, bookkeeping). */
  split: 7_000,
  /** Every struct an item split shifts in its client's array. */
  shift: 1,
  /** Every item Yjs' conflict resolution steps over while integrating an insert. */
  conflictStep: 600,
  /** Every earlier entry of a map key Yjs walks past to place an entry set without an origin. */
  keyHistoryStep: 20,
  /** Every deleted range of the room's index looked at while filtering delete ranges. */
  indexStep: 60,
} as const

/**
 * The least `structs` structs in `bytes` bytes can cost if all are new: reading, integrating and
 * decoding them, before any delete, split or walk is priced.
 */
export function floorWork(bytes: number, structs: number): number {
  return bytes * PRICES.byte + structs * (PRICES.structRead + PRICES.structNew)
}

/** Why the room refuses an update: `limit` (a bound) or `pending` (depends on what it lacks). */
export class UpdateRefusal extends Error {
  override readonly name = 'UpdateRefusal'
  constructor(
    readonly kind: 'limit' | 'pending',
    message: string,
  ) {
    super(message)
  }
}

/** What admitting an update found. */
export interface Admission {
  /**
   * The update to apply, store and relay: the one received, or a copy without the delete ranges
   * the document already deleted. Null when nothing in it is new (nothing to do at all).
   */
  update: Uint8Array | null
  /** The estimated work of applying it, in nanoseconds (see PRICES). */
  work: number
  /** Structs it adds to the document. */
  newStructs: number
  /** Its delete ranges that are not deleted yet: client → flattened (clock, len), ascending. */
  deletes: Map<number, number[]>
  /** The shape of the update as received (its struct section is `update`'s too). */
  shape: UpdateShape
}

/**
 * Checks an update of this `shape` against `doc`; throws UpdateRefusal if it must not be applied.
 * Pricing stops early once the work passes `budget` (the total is then only a lower bound, past it).
 */
export function admitUpdate(
  doc: Y.Doc,
  update: Uint8Array,
  shape: UpdateShape,
  limits: UpdateLimits,
  deleted: DeletedIndex,
  budget = Number.POSITIVE_INFINITY,
): Admission {
  const clients = doc.store.clients
  /** Per client touched by the update's structs: the state after it, and its new struct count. */
  const after = new Map<number, { state: number; starts: number[] }>()
  let newClients = 0
  let newStructs = 0
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
    if (block.end > state) newStructs += block.starts.length - firstAtOrAfter(block.starts, state) + 1
  }
  // The struct that holds `state` may start before it (Yjs keeps its new part): counted above as one more.
  newStructs = Math.min(newStructs, shape.structCount)
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

  let work =
    update.byteLength * PRICES.byte + shape.structCount * PRICES.structRead + newStructs * PRICES.structNew
  /** What the document and the update hold of one client (the last one asked about is cached). */
  const EMPTY: number[] = []
  let cached = {
    client: Number.NaN,
    structs: undefined as Array<Y.Item | Y.GC> | undefined,
    held: 0,
    after: 0,
    starts: EMPTY,
  }
  const clientInfo = (client: number) => {
    if (cached.client === client) return cached
    const structs = clients.get(client) as Array<Y.Item | Y.GC> | undefined
    const held = structs ? Y.getState(doc.store, client) : 0
    const own = after.get(client)
    cached = { client, structs, held, after: own?.state ?? held, starts: own?.starts ?? EMPTY }
    return cached
  }
  const stateAfter = (client: number) => clientInfo(client).after
  const split = (client: number, boundary: number, deletion: boolean) => {
    const { structs, held, starts } = clientInfo(client)
    if (boundary >= held) {
      // Among the update's own new structs: a split shifts the new structs after it.
      const index = firstAtOrAfter(starts, boundary)
      if (index < starts.length && starts[index] !== boundary) {
        work += PRICES.split + (starts.length - index) * PRICES.shift
      }
      return
    }
    const index = Y.findIndexSS(structs!, boundary)
    const struct = structs![index]
    if (struct.id.clock === boundary || (deletion && struct.deleted)) return
    work += PRICES.split + (structs!.length - index + starts.length) * PRICES.shift
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
  if (work <= budget) work += conflictWalks(doc, shape, budget - work)

  // Delete ranges: drop what is already deleted, price what is left by the structs Yjs will visit.
  let filtered: Map<number, number[]> | null = null
  const liveDeletes = new Map<number, number[]>()
  let deleteRanges = 0
  for (const [client, ranges] of shape.deletes) {
    if (ranges.length === 0) continue
    const lastEnd = ranges[ranges.length - 2] + ranges[ranges.length - 1]
    if (lastEnd > stateAfter(client)) {
      throw new UpdateRefusal(
        'pending',
        `a deletion of ${client}:${lastEnd - 1} refers to what the room does not hold`,
      )
    }
    const structs = clients.get(client)
    const held = structs ? Y.getState(doc.store, client) : 0
    const starts = after.get(client)?.starts ?? []
    const live: number[] = []
    for (let i = 0; i < ranges.length && work <= budget; i += 2) {
      const clock = ranges[i]
      const end = clock + ranges[i + 1]
      if (end === clock) continue
      const heldEnd = Math.min(end, held)
      if (clock < heldEnd) {
        const visited = deleted.forEachLive(
          client,
          clock,
          heldEnd,
          (from, to) => {
            live.push(from, to - from)
            // Yjs visits every struct from the one holding `from` to the one holding `to - 1`.
            work +=
              PRICES.deleteStruct * (Y.findIndexSS(structs!, to - 1) - Y.findIndexSS(structs!, from) + 1)
          },
          (budget - work) / PRICES.indexStep,
        )
        work += PRICES.indexStep * visited
      }
      if (end > held) {
        const from = Math.max(clock, held)
        live.push(from, end - from)
        work += PRICES.deleteStruct * (firstAtOrAfter(starts, end) - firstAtOrAfter(starts, from) + 1)
      }
    }
    if (work > budget) break
    for (let i = 0; i < live.length; i += 2) {
      split(client, live[i], true)
      split(client, live[i] + live[i + 1], true)
    }
    deleteRanges += live.length / 2
    if (live.length > 0) liveDeletes.set(client, live)
    if (!sameRanges(live, ranges)) filtered ??= new Map(shape.deletes)
    filtered?.set(client, live)
  }

  if (shape.structCount === 0 && deleteRanges === 0 && work <= budget) {
    return { update: null, work, newStructs: 0, deletes: new Map(), shape }
  }
  const admitted = filtered && work <= budget ? withDeleteSet(update, shape, filtered) : update
  return { update: admitted, work, newStructs, deletes: liveDeletes, shape }
}

/**
 * Prices the walk Yjs' conflict resolution makes while integrating each new item: it steps over
 * the items that lie between the item's origin and its right origin (all of them when the origins
 * are far apart; a real client's are neighbours, with at most concurrent inserts between them).
 * For an item whose origin is itself new, the walk starts no further left than its origin's own
 * left anchor, and likewise on the right, so anchors are followed through the update's new items
 * to items the document holds; each gap is walked in the document, up to the remaining `budget`.
 * An item with neither origin walks its parent's list, or its map key's whole history, plus every
 * such item this update placed there before it.
 */
function conflictWalks(doc: Y.Doc, shape: UpdateShape, budget: number): number {
  const store = doc.store
  const refs = shape.references
  // Per side (0 origin, 1 right origin), per new struct: the held item its walk is bounded by, or
  // null for the end of the list (undefined: not resolved yet), and the clock in it (`clocks`).
  const blocks = new Map(
    shape.blocks.map((block) => [
      block.client,
      {
        block,
        memo: [
          new Array<Y.Item | null | undefined>(block.starts.length),
          new Array<Y.Item | null | undefined>(block.starts.length),
        ],
        clocks: [new Array<number>(block.starts.length), new Array<number>(block.starts.length)],
      },
    ]),
  )
  const limit = budget / PRICES.conflictStep
  let steps = 0
  /** The item holding `client:clock` if the document holds it (null for a GC'd struct). */
  const held = (client: number, clock: number): Y.Item | null => {
    const structs = store.clients.get(client)!
    const struct = structs[Y.findIndexSS(structs, clock)]
    return struct instanceof Y.Item ? struct : null
  }
  const pathMemos: Array<Array<Y.Item | null | undefined>> = []
  const pathClocks: number[][] = []
  const pathIndexes: number[] = []
  /** The clock in the item the last `anchorOf` returned. */
  let anchorClock = 0
  const anchorOf = (client: number, clock: number, side: 0 | 1): Y.Item | null => {
    pathMemos.length = 0
    pathClocks.length = 0
    pathIndexes.length = 0
    let result: Y.Item | null = null
    anchorClock = 0
    for (;;) {
      if (clock < Y.getState(store, client)) {
        result = held(client, clock)
        anchorClock = clock
        break
      }
      const { block, memo, clocks } = blocks.get(client)!
      const index = Math.max(0, firstAtOrAfter(block.starts, clock + 1) - 1)
      const known = memo[side][index]
      if (known !== undefined) {
        result = known
        anchorClock = clocks[side][index]
        break
      }
      // An origin cycle among new structs would leave them pending forever.
      if (pathIndexes.length > shape.structCount) {
        throw new UpdateRefusal('pending', "the update's items refer to each other in a cycle")
      }
      pathMemos.push(memo[side])
      pathClocks.push(clocks[side])
      pathIndexes.push(index)
      let next = -1
      for (let r = block.firstReference[index]; r < block.firstReference[index + 1]; r++) {
        if (refs[3 * r + 2] === side) next = r
      }
      if (next < 0) break
      client = refs[3 * next]
      clock = refs[3 * next + 1]
    }
    for (let p = 0; p < pathIndexes.length; p++) {
      pathMemos[p][pathIndexes[p]] = result
      pathClocks[p][pathIndexes[p]] = anchorClock
    }
    return result
  }
  for (const block of shape.blocks) {
    const state = Y.getState(store, block.client)
    if (block.end <= state) continue
    const { starts, firstReference } = block
    const { memo, clocks } = blocks.get(block.client)!
    const first = Math.max(0, firstAtOrAfter(starts, state + 1) - 1)
    for (let i = first; i < starts.length && steps <= limit; i++) {
      let origin: Y.Item | null = null
      let right: Y.Item | null = null
      let originClock = 0
      let rightClock = 0
      let anchored = false
      for (let r = firstReference[i]; r < firstReference[i + 1]; r++) {
        const kind = refs[3 * r + 2]
        if (kind === 2) continue
        anchored = true
        const client = refs[3 * r]
        const clock = refs[3 * r + 1]
        const side = kind as 0 | 1
        // Most items point at the struct just before them (typing): its anchor is known already.
        const previous =
          client === block.client && i > first && clock >= starts[i - 1] && clock < starts[i]
            ? memo[side][i - 1]
            : undefined
        let item: Y.Item | null
        if (previous !== undefined && previous !== null) {
          item = previous
          anchorClock = clocks[side][i - 1]
        } else item = anchorOf(client, clock, side)
        if (kind === 0) {
          origin = item
          originClock = anchorClock
        } else {
          right = item
          rightClock = anchorClock
        }
      }
      memo[0][i] = origin
      memo[1][i] = right
      clocks[0][i] = originClock
      clocks[1][i] = rightClock
      if (!anchored) continue
      if (origin && origin === right && rightClock > originClock) {
        // Both anchors in one item (typing inside what someone wrote): Yjs splits it at each, and
        // the walk crosses at most the part between them.
        if (rightClock > originClock + 1) steps++
      } else if (origin) {
        // From the origin rightwards to the right anchor (or the end of the list), past the rest of
        // the origin's item first when the origin is not its last unit.
        if (originClock < origin.id.clock + origin.length - 1) steps++
        for (let o = origin.right; o !== null && o !== right && steps <= limit; o = o.right) steps++
      } else if (right && right.parentSub === null && right.parent instanceof Y.AbstractType) {
        // From the start of the right anchor's list to it.
        for (let o = right.parent._start; o !== null && o !== right && steps <= limit; o = o.right) steps++
      }
    }
  }
  // Items with neither origin: the list (or key history) they are placed in, and their own kind
  // placed earlier in this update.
  const placed = new Map<string, number>()
  const keyLimit = budget / PRICES.keyHistoryStep
  let keySteps = 0
  for (const item of shape.anchorless) {
    if (steps > limit || keySteps > keyLimit) break
    const key = `${item.root ?? `${item.parentClient}:${item.parentClock}`}\u0000${item.parentSub ?? ''}`
    const before = placed.get(key) ?? 0
    placed.set(key, before + 1)
    let parent: ReturnType<Y.Doc['share']['get']>
    if (item.root !== null) parent = doc.share.get(item.root)
    else if (item.parentClock < Y.getState(store, item.parentClient)) {
      const content = held(item.parentClient, item.parentClock)?.content
      if (content instanceof Y.ContentType) parent = content.type
    }
    if (item.parentSub !== null) {
      // Yjs walks to the key's first entry, then back right through all of them (cheap steps).
      keySteps += before
      for (let o = parent?._map.get(item.parentSub) ?? null; o !== null && keySteps <= keyLimit; o = o.left) {
        keySteps++
      }
    } else {
      steps += before
      for (let o = parent?._start ?? null; o !== null && steps <= limit; o = o.right) steps++
    }
  }
  return steps * PRICES.conflictStep + keySteps * PRICES.keyHistoryStep
}

/** The update with its delete set replaced by `deletes` (struct bytes copied as they are). */
function withDeleteSet(update: Uint8Array, shape: UpdateShape, deletes: Map<number, number[]>): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeUint8Array(encoder, update.subarray(0, shape.deleteSetOffset))
  let clients = 0
  for (const ranges of deletes.values()) if (ranges.length > 0) clients++
  encoding.writeVarUint(encoder, clients)
  for (const [client, ranges] of deletes) {
    if (ranges.length === 0) continue
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, ranges.length / 2)
    for (const value of ranges) encoding.writeVarUint(encoder, value)
  }
  return encoding.toUint8Array(encoder)
}

function sameRanges(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Index of the first element of ascending `values` that is >= `value` (binary search). */
function firstAtOrAfter(values: ArrayLike<number>, value: number): number {
  let low = 0
  let high = values.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (values[mid] < value) low = mid + 1
    else high = mid
  }
  return low
}
