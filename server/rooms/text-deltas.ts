/**
 * The text delta of each transaction on a room's `Y.Text`, computed cheaply enough to run for
 * every update a room applies.
 *
 * `Y.YTextEvent.delta` walks the whole text from its first item on every transaction: about 50 ns
 * an item, a millisecond per keystroke for a text of 20,000 items, a hundred times the cost of
 * applying the keystroke. Here positions come from markers instead: each an item of the text and
 * the number of visible units before its first unit, kept from earlier transactions, up to 32 of
 * them (the places edited last). The items a transaction changed are found from its state vectors
 * and delete set (cost: the update's size); from one of them a walk goes out both ways, a step each
 * way in turn, until it met every changed item and a marker (or the start of the text), which
 * gives the position of the leftmost changed item; the delta runs from it to the rightmost. A
 * marker then goes on the item right after the change (the least recently used going past 32),
 * and the others shift by what the change inserted and deleted before them.
 *
 * So typing costs a few items per keystroke, also for several people typing far apart; an edit at
 * a random place walks to the nearest of the places edited last (about a 66th of the text when
 * edits land uniformly); a transaction touching both ends of a long text walks all of it (at most
 * three times the text's items in all). That walk is the sender's to pay: `itemsWalked` counts the
 * items stepped over, and a connection is charged what each of its updates caused (1,000,000 items
 * a second, ws/connection.ts; PROTOCOL.md, Admission).
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
 * Places in the text: an item of it and the visible units before the item's first unit, as the
 * last transaction `of` saw left them. Keyed by the item: Yjs keeps an item's object (and its first
 * unit) when it splits it, and an item merged into its left neighbour is no longer in the list, so
 * no walk meets it again (it ages out). Oldest use first (a Map keeps insertion order).
 */
type Markers = Map<Y.Item, number>

/**
 * Markers kept: each place people edit at keeps its own (several people typing far apart, or the
 * last places edited at random, which split the text into stretches a walk crosses one of).
 */
const MAX_MARKERS = 32

/** Follows the deltas of one root text of a document across transactions (see the head comment). */
export class TextDeltas {
  private markers: Markers = new Map()

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
    return this.emit(this.find(changed), changed)
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
    for (const [marker, markerIndex] of this.markers) {
      if (!inList(type, marker)) continue
      if (item === null || Math.abs(markerIndex - index) < Math.abs(start - index)) {
        item = marker
        start = markerIndex
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
   * The leftmost changed item and the visible units before it (before the transaction): a walk out
   * from one changed item in both directions, a step each way in turn, until every changed item
   * and a marker (or the start of the text) were met. The cost: twice the distance from that item
   * to the farthest change or the nearest marker, whichever is farther.
   */
  private find(changed: Map<Y.Item, number>): { first: Y.Item; index: number } {
    const from = changed.keys().next().value as Y.Item
    // Offsets in units (before the transaction) from the first unit of `from`.
    let right: Y.Item | null = from
    let rightOffset = 0
    let left: Y.Item | null = from.left
    let leftOffset = 0
    let first = from
    let firstOffset = 0
    let found = 0
    /** The units before `from`'s first unit, once a marker or the start was met. */
    let origin = Number.NaN
    let steps = 0
    const all = changed.size
    try {
      while (found < all || Number.isNaN(origin)) {
        if (right === null && left === null) {
          if (found < all) throw new Error('a changed item is not in its text')
          break
        }
        if (right !== null) {
          steps++
          if (Number.isNaN(origin)) origin = this.use(right, rightOffset)
          if (found < all && changed.has(right)) found++
          rightOffset += unitsBefore(right, changed)
          right = right.right
        }
        if (left !== null && (found < all || Number.isNaN(origin))) {
          steps++
          leftOffset -= unitsBefore(left, changed)
          if (found < all && changed.has(left)) {
            found++
            first = left
            firstOffset = leftOffset
          }
          if (Number.isNaN(origin)) origin = this.use(left, leftOffset)
          left = left.left
        }
        // The left walk reached the start of the text.
        if (left === null && Number.isNaN(origin)) origin = -leftOffset
      }
      if (Number.isNaN(origin)) throw new Error('the text has no start')
      return { first, index: origin + firstOffset }
    } finally {
      walked += steps
    }
  }

  /** `item`'s marker, made the most recently used: the units before `from` (`offset` from it). */
  private use(item: Y.Item, offset: number): number {
    const index = this.markers.get(item)
    if (index === undefined) return Number.NaN
    this.markers.delete(item)
    this.markers.set(item, index)
    return index - offset
  }

  /** The runs from the first changed item to the last one; moves the markers. */
  private emit(found: { first: Y.Item; index: number }, changed: Map<Y.Item, number>): TextDelta {
    const { first, index } = found
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
    this.moveMarkers(index, before, after)
    // Mark the item right after the change (or the change's last item) for the next transaction.
    const next = item.right
    if (next) this.mark(next, after)
    else this.mark(item, !item.deleted && item.countable ? after - item.length : after)
    return runs.runs
  }

  /**
   * Keeps the markers true after a change that replaced the units `from`..`to` of the text before
   * it with `from`..`after`: those before it stay, those after it shift, those within it go.
   */
  private moveMarkers(from: number, to: number, after: number): void {
    for (const [item, index] of this.markers) {
      if (index > to) this.markers.set(item, index + after - to)
      else if (index >= from) this.markers.delete(item)
    }
  }

  private mark(item: Y.Item, index: number): void {
    this.markers.delete(item)
    this.markers.set(item, index)
    if (this.markers.size > MAX_MARKERS) this.markers.delete(this.markers.keys().next().value as Y.Item)
  }
}

/** `item` is still in `type`'s list (not merged into its left neighbour since it was marked). */
function inList(type: Root, item: Y.Item): boolean {
  if (item.parent !== type || item.parentSub !== null) return false
  return item.left === null ? type._start === item : item.left.right === item
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
