/**
 * The text delta of each transaction on a room's `Y.Text`, computed cheaply enough to run for
 * every update a room applies.
 *
 * `Y.YTextEvent.delta` walks the whole text from its first item on every transaction: about 50 ns
 * an item, a millisecond per keystroke for a text of 20,000 items, a hundred times the cost of
 * applying the keystroke. Here the walk starts from markers instead: each one unit of the text (an
 * item id, which survives Yjs splitting and merging items) and the number of visible units before
 * it, kept from earlier transactions, up to 8 of them, one per place people edit at. The items a
 * transaction changed are found from its state vectors and delete set (cost: the update's size),
 * their positions by walking outward from every marker in turn until one meets a change (at most
 * 256 items each way; past that from the marker used last alone), then from that one until all
 * are met, and the delta from the leftmost changed item to the rightmost. The marker then moves to
 * the end of the change (a walk of more than 256 items adds one there instead, the least recently
 * used going), and the others shift by what the change inserted and deleted before them.
 *
 * So typing costs a few items per keystroke, also for several people typing far apart; an edit far
 * from every marker walks the distance from the last one used, and a transaction touching both
 * ends of a long text walks it once (at most three times the text's items plus 4,096 in all). That
 * walk is the sender's to pay: `itemsWalked` counts the items stepped over, and a connection is
 * charged what each of its updates caused (1,000,000 items a second, ws/connection.ts; PROTOCOL.md,
 * Admission).
 *
 * Units are the text's UTF-16 code units, as `Y.Text` counts them: a string's units, and one unit
 * per unit of anything else the text's list holds (an embed, a nested type, or the values of a
 * client that wrote the same root as another kind), which reads as U+FFFC, the object replacement
 * character (`roomText`). Formatting attributes do not change the text and are left out, as are
 * transactions that changed nothing countable.
 */
import * as Y from 'yjs'
import type { TextDelta } from './change-log.ts'

/** Items of texts stepped over by every TextDeltas of this process so far (see `itemsWalked`). */
let walked = 0

/**
 * The items every TextDeltas of this process has stepped over so far: the difference across a
 * synchronous call is the walk that call caused (a connection charges its sender with it).
 */
export function itemsWalked(): number {
  return walked
}

/** What a unit of the text that is not a string's reads as. */
export const OBJECT_UNIT = '\uFFFC'

/** The text of `type` (a room's `Y.Text`, or Yjs' placeholder for a root nobody asked for by kind). */
export function roomText(type: Y.AbstractType<any> | undefined): string {
  const parts: string[] = []
  for (let item = type?._start ?? null; item !== null; item = item.right) {
    if (!item.deleted && item.countable) parts.push(unitsOf(item))
  }
  return parts.join('')
}

/** The units of a countable item. */
function unitsOf(item: Y.Item): string {
  return item.content instanceof Y.ContentString ? item.content.str : OBJECT_UNIT.repeat(item.length)
}

/** A root type of a document (a `Y.Text`, or Yjs' placeholder for a root nobody asked for by kind). */
type Root = Y.AbstractType<any>

/** How a transaction changed an item of the text (bit flags). */
const ADDED = 1
const DELETED = 2
/** Yjs split a surrogate pair here and replaced both halves with U+FFFD (its first / last unit). */
const FIRST_REPLACED = 4
const LAST_REPLACED = 8
const REPLACEMENT = '\uFFFD'

/**
 * A place in the text: one unit (an item id, which survives Yjs splitting and merging items) and
 * the visible units before it; `used`: the transaction that last walked from it (for eviction).
 */
interface Marker {
  client: number
  clock: number
  index: number
  used: number
}

/** Markers kept: each place people edit at keeps its own (several people typing far apart). */
const MAX_MARKERS = 8
/** A walk longer than this from the nearest marker found a new place: it gets a marker of its own. */
const NEAR = 256

/** Follows the deltas of one root text of a document across transactions (see the head comment). */
export class TextDeltas {
  private markers: Marker[] = []
  private transactions = 0

  constructor(
    private readonly doc: Y.Doc,
    private readonly name: string,
  ) {}

  /**
   * The delta `transaction` made to the text, or null when it changed no unit of it. Call from the
   * document's `afterTransaction` for every transaction (the markers rely on seeing each).
   */
  of(transaction: Y.Transaction): TextDelta | null {
    const type = this.doc.share.get(this.name)
    if (!type || !transaction.changed.has(type)) return null
    const changed = changedItems(transaction, type)
    if (changed.size === 0) return null
    this.transactions++
    return this.emit(this.find(type, changed), changed)
  }

  /**
   * The code units of the text at `indexes`, as it stood after the last transaction `of` saw (NaN
   * past the end; an embed reads as OBJECT_UNIT), each read by walking from the nearest marker (from
   * the start without one): a few items for an index near where people edit. The items stepped over
   * count toward `itemsWalked`, so a writer pays for reading far from every marker.
   */
  unitsAt(indexes: readonly number[]): number[] {
    const type = this.doc.share.get(this.name)
    if (!type) return indexes.map(() => Number.NaN)
    return indexes.map((index) => this.unitAt(type, index))
  }

  private unitAt(type: Root, index: number): number {
    let item = type._start
    let start = 0
    for (const marker of this.markers) {
      const structs = this.doc.store.clients.get(marker.client)
      const last = structs?.[structs.length - 1]
      if (!structs || !last || last.id.clock + last.length <= marker.clock) continue
      const struct = structs[Y.findIndexSS(structs, marker.clock)]
      if (!(struct instanceof Y.Item) || struct.parent !== type || struct.parentSub !== null) continue
      if (struct.deleted || !struct.countable) continue
      const itemStart = marker.index - (marker.clock - struct.id.clock)
      if (item === null || Math.abs(itemStart - index) < Math.abs(start - index)) {
        item = struct
        start = itemStart
      }
    }
    let steps = 0
    try {
      // Left while the index is before the item, then right until the item holds it.
      while (item !== null && index < start) {
        item = item.left
        steps++
        if (item !== null && !item.deleted && item.countable) start -= item.length
      }
      for (; item !== null; item = item.right, steps++) {
        if (item.deleted || !item.countable) continue
        if (index < start + item.length) {
          return item.content instanceof Y.ContentString
            ? item.content.str.charCodeAt(index - start)
            : OBJECT_UNIT.charCodeAt(0)
        }
        start += item.length
      }
      return Number.NaN
    } finally {
      walked += steps
    }
  }

  /**
   * A search that met every changed item, walking out from every marker in turn (from the start of
   * the text when there is none) until one meets a changed item, then from that one alone; after
   * `NEAR` items each way from every marker, from the marker used last alone. The cost: twice the
   * number of markers times the distance from the nearest marker to a change (at most `NEAR`), plus
   * the distance from the last marker used to the farthest change.
   */
  private find(type: Root, changed: Map<Y.Item, number>): Search {
    const searches: Search[] = []
    for (const marker of this.markers) {
      const start = this.resolve(type, marker, changed)
      if (start) searches.push(new Search(start.item, start.index, changed, marker))
    }
    // No marker (or the text became another root): walk from the start.
    if (searches.length === 0) searches.push(new Search(type._start as Y.Item, 0, changed, null))
    const alone = (search: Search): Search => {
      while (search.walking) if (search.step()) return search
      throw new Error('a changed item is not in its text')
    }
    try {
      for (let round = 0; ; round++) {
        let walking = false
        for (const search of searches) {
          if (search.step()) return search
          if (search.met) return alone(search)
          walking ||= search.walking
        }
        if (!walking) throw new Error('a changed item is not in its text')
        // Far from every marker: on from the one used last alone, as with a single marker.
        if (round === NEAR)
          return alone(searches.reduce((a, b) => ((b.marker?.used ?? 0) > (a.marker?.used ?? 0) ? b : a)))
      }
    } finally {
      for (const search of searches) walked += search.steps
    }
  }

  /** The item holding `marker`'s unit and the visible units before it as the transaction found it. */
  private resolve(
    type: Root,
    marker: Marker,
    changed: Map<Y.Item, number>,
  ): { item: Y.Item; index: number } | null {
    const structs = this.doc.store.clients.get(marker.client)
    const last = structs?.[structs.length - 1]
    if (!structs || !last || last.id.clock + last.length <= marker.clock) return null
    const struct = structs[Y.findIndexSS(structs, marker.clock)]
    if (!(struct instanceof Y.Item) || struct.parent !== type || struct.parentSub !== null) return null
    // The marked unit existed before the transaction, so its item was not added by it.
    const offset = unitsBefore(struct, changed) > 0 ? marker.clock - struct.id.clock : 0
    return { item: struct, index: marker.index - offset }
  }

  /** The runs from the search's first changed item to the last one; moves the markers. */
  private emit(search: Search, changed: Map<Y.Item, number>): TextDelta {
    const { first, index } = search.result()
    const runs = new RunList()
    runs.retain(index)
    let after = index
    let before = index
    let seen = 0
    let item: Y.Item = first
    let steps = 0
    for (;;) {
      steps++
      const how = changed.get(item)
      if (how !== undefined) seen++
      before += unitsBefore(item, changed)
      if (how === undefined || how === FIRST_REPLACED || how === LAST_REPLACED || how === 12) {
        if (!item.deleted && item.countable) {
          emitKept(runs, item, how ?? 0)
          after += item.length
        }
      } else if (how & DELETED) runs.delete(item.length)
      else {
        runs.insert(unitsOf(item))
        after += item.length
      }
      if (seen === changed.size || item.right === null) break
      item = item.right
    }
    walked += steps
    this.moveMarkers(search, index, before, after)
    // Mark the unit right after the change (or the change's last unit) for the next transaction.
    const next = item.right
    if (next) this.mark(next.id.client, next.id.clock, after)
    else {
      const visible = !item.deleted && item.countable
      this.mark(item.id.client, item.id.clock + item.length - 1, visible ? after - 1 : after)
    }
    return runs.runs
  }

  /**
   * Keeps the markers true after a change that replaced the units `from`..`to` of the text before
   * it with `from`..`after`: those before it stay, those after it shift, those within it go, as
   * does the one the search started from when it was near (the new marker replaces it).
   */
  private moveMarkers(search: Search, from: number, to: number, after: number): void {
    const kept: Marker[] = []
    for (const marker of this.markers) {
      if (marker === search.marker && search.steps <= NEAR) continue
      if (marker.index > to) marker.index += after - to
      else if (marker.index >= from) continue
      kept.push(marker)
    }
    this.markers = kept
  }

  private mark(client: number, clock: number, index: number): void {
    this.markers = this.markers.filter((marker) => marker.client !== client || marker.clock !== clock)
    this.markers.push({ client, clock, index, used: this.transactions })
    if (this.markers.length > MAX_MARKERS) {
      let oldest = 0
      for (let i = 1; i < this.markers.length; i++) {
        if (this.markers[i].used < this.markers[oldest].used) oldest = i
      }
      this.markers.splice(oldest, 1)
    }
  }
}

/** The runs of an item visible before and after: kept, but for halves of a split surrogate pair. */
function emitKept(runs: RunList, item: Y.Item, how: number): void {
  const first = how & FIRST_REPLACED ? 1 : 0
  const last = how & LAST_REPLACED && item.length > first ? 1 : 0
  if (first) {
    runs.delete(1)
    runs.insert(REPLACEMENT)
  }
  runs.retain(item.length - first - last)
  if (last) {
    runs.delete(1)
    runs.insert(REPLACEMENT)
  }
}

/**
 * The countable items of `type`'s list that `transaction` added (and did not delete), deleted
 * (having existed before it), or whose content Yjs changed by splitting a surrogate pair. Cost:
 * the structs the transaction added, deleted or split.
 */
function changedItems(transaction: Y.Transaction, type: Root): Map<Y.Item, number> {
  const changed = new Map<Y.Item, number>()
  const { store } = transaction.doc
  const inText = (struct: Y.AbstractStruct | undefined): struct is Y.Item =>
    struct instanceof Y.Item && struct.parent === type && struct.parentSub === null && struct.countable
  for (const [client, after] of transaction.afterState) {
    const before = transaction.beforeState.get(client) ?? 0
    if (after <= before) continue
    const structs = store.clients.get(client)
    if (!structs) continue
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const struct = structs[i]
      if (inText(struct) && !struct.deleted) changed.set(struct, ADDED)
    }
  }
  for (const [client, ranges] of transaction.deleteSet.clients) {
    const structs = store.clients.get(client)
    if (!structs) continue
    // What the transaction added and deleted again was never visible: skipped.
    const before = transaction.beforeState.get(client) ?? 0
    for (const { clock, len } of ranges) {
      const end = Math.min(clock + len, before)
      if (clock >= end) continue
      for (let i = Y.findIndexSS(structs, clock); i < structs.length && structs[i].id.clock < end; i++) {
        const struct = structs[i]
        if (inText(struct)) changed.set(struct, DELETED)
      }
    }
  }
  // Splitting an item inside a surrogate pair replaces both halves with U+FFFD (ContentString.splice).
  for (const right of transaction._mergeStructs) {
    if (!inText(right) || !(right.content instanceof Y.ContentString)) continue
    if (!right.content.str.startsWith(REPLACEMENT)) continue
    const structs = store.clients.get(right.id.client)!
    const left = structs[Y.findIndexSS(structs, right.id.clock - 1)]
    if (
      !inText(left) ||
      !(left.content instanceof Y.ContentString) ||
      !left.content.str.endsWith(REPLACEMENT)
    ) {
      continue
    }
    for (const [item, flag] of [
      [left, LAST_REPLACED],
      [right, FIRST_REPLACED],
    ] as const) {
      const how = changed.get(item) ?? 0
      if (!(how & (ADDED | DELETED))) changed.set(item, how | flag)
    }
  }
  return changed
}

/** Units `item` held before the transaction that changed `changed`. */
function unitsBefore(item: Y.Item, changed: Map<Y.Item, number>): number {
  if (!item.countable) return 0
  const how = changed.get(item) ?? 0
  if (how & ADDED) return 0
  if (how & DELETED) return item.length
  return item.deleted ? 0 : item.length
}

/**
 * A search for the leftmost changed item and the visible units before it (before the transaction),
 * walking out from `from` (with `index` units before it) in both directions, a step at a time,
 * until every changed item was met.
 */
class Search {
  /** Items stepped over so far. */
  steps = 0
  private found = 0
  private right: Y.Item | null
  private rightIndex: number
  private left: Y.Item | null
  private leftIndex: number
  private firstRight: Y.Item | null = null
  private firstRightIndex = 0
  private firstLeft: Y.Item | null = null
  private firstLeftIndex = 0

  constructor(
    from: Y.Item,
    index: number,
    private readonly changed: Map<Y.Item, number>,
    readonly marker: Marker | null,
  ) {
    this.right = from
    this.rightIndex = index
    this.left = from.left
    this.leftIndex = index
  }

  /** Met a changed item. */
  get met(): boolean {
    return this.found > 0
  }

  /** Items remain on either side. */
  get walking(): boolean {
    return this.right !== null || this.left !== null
  }

  /** One item to the right and one to the left; true once every changed item was met. */
  step(): boolean {
    const { changed } = this
    if (this.found === changed.size) return true
    const right = this.right
    if (right !== null) {
      this.steps++
      if (changed.has(right)) {
        this.found++
        if (this.firstRight === null) {
          this.firstRight = right
          this.firstRightIndex = this.rightIndex
        }
      }
      this.rightIndex += unitsBefore(right, changed)
      this.right = right.right
    }
    const left = this.left
    if (left !== null && this.found < changed.size) {
      this.steps++
      this.leftIndex -= unitsBefore(left, changed)
      if (changed.has(left)) {
        this.found++
        this.firstLeft = left
        this.firstLeftIndex = this.leftIndex
      }
      this.left = left.left
    }
    return this.found === changed.size
  }

  /** The leftmost changed item and the units before it (once `step` said all were met). */
  result(): { first: Y.Item; index: number } {
    if (this.firstLeft) return { first: this.firstLeft, index: this.firstLeftIndex }
    return { first: this.firstRight!, index: this.firstRightIndex }
  }
}

/** Builds a delta, merging neighbouring runs of one kind. */
class RunList {
  readonly runs: Array<{ retain: number } | { insert: string } | { delete: number }> = []

  retain(units: number): void {
    if (units === 0) return
    const last = this.runs[this.runs.length - 1]
    if (last && 'retain' in last) last.retain += units
    else this.runs.push({ retain: units })
  }

  insert(text: string): void {
    const last = this.runs[this.runs.length - 1]
    if (last && 'insert' in last) last.insert += text
    else this.runs.push({ insert: text })
  }

  delete(units: number): void {
    const last = this.runs[this.runs.length - 1]
    if (last && 'delete' in last) last.delete += units
    else this.runs.push({ delete: units })
  }
}
