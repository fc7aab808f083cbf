/**
 * The text delta of each transaction on a room's `Y.Text`, computed cheaply enough to run for
 * every update a room applies.
 *
 * `Y.YTextEvent.delta` walks the whole text from its first item on every transaction: about 50 ns
 * an item, a millisecond per keystroke for a text of 20,000 items, a hundred times the cost of
 * applying the keystroke. Here the walk starts from a marker instead: one unit of the text (an
 * item id, which survives Yjs splitting and merging items) and the number of visible units before
 * it, kept from the previous transaction. The items a transaction changed are found from its state
 * vectors and delete set (cost: the update's size), their positions by walking outward from the
 * marker until all are met, and the delta from the leftmost changed item to the rightmost (cost:
 * the distance from the marker to the farthest change, so typing costs a few items per keystroke;
 * a transaction that touches both ends of a long text still walks it once). The marker then moves
 * to the end of the change.
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

/** Follows the deltas of one root text of a document across transactions (see the head comment). */
export class TextDeltas {
  /** The marker: a unit of the text (client, clock), and the visible units before it; client -1: none. */
  private markClient = -1
  private markClock = 0
  private markIndex = 0

  constructor(
    private readonly doc: Y.Doc,
    private readonly name: string,
  ) {}

  /**
   * The delta `transaction` made to the text, or null when it changed no unit of it. Call from the
   * document's `afterTransaction` for every transaction (the marker relies on seeing each).
   */
  of(transaction: Y.Transaction): TextDelta | null {
    const type = this.doc.share.get(this.name)
    if (!type || !transaction.changed.has(type)) return null
    const changed = changedItems(transaction, type)
    if (changed.size === 0) return null
    const start = this.start(type, changed)
    const { first, index } = leftmost(start.item, start.index, changed)
    return this.emit(first, index, changed)
  }

  /** The item to walk from and the visible units before it in the text as the transaction found it. */
  private start(type: Root, changed: Map<Y.Item, number>): { item: Y.Item; index: number } {
    const structs = this.markClient === -1 ? undefined : this.doc.store.clients.get(this.markClient)
    const last = structs?.[structs.length - 1]
    if (structs && last && last.id.clock + last.length > this.markClock) {
      const struct = structs[Y.findIndexSS(structs, this.markClock)]
      if (struct instanceof Y.Item && struct.parent === type && struct.parentSub === null) {
        // The marked unit existed before the transaction, so its item was not added by it.
        const offset = unitsBefore(struct, changed) > 0 ? this.markClock - struct.id.clock : 0
        return { item: struct, index: this.markIndex - offset }
      }
    }
    // No marker yet (or the text became another root): walk from the start.
    return { item: type._start as Y.Item, index: 0 }
  }

  /** The runs from `first` (with `index` units before it) to the last changed item; moves the marker. */
  private emit(first: Y.Item, index: number, changed: Map<Y.Item, number>): TextDelta {
    const runs = new RunList()
    runs.retain(index)
    let after = index
    let seen = 0
    let item: Y.Item = first
    let steps = 0
    for (;;) {
      steps++
      const how = changed.get(item)
      if (how !== undefined) seen++
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
    // Mark the unit right after the change (or the change's last unit) for the next transaction.
    const next = item.right
    if (next) this.mark(next.id.client, next.id.clock, after)
    else {
      const visible = !item.deleted && item.countable
      this.mark(item.id.client, item.id.clock + item.length - 1, visible ? after - 1 : after)
    }
    return runs.runs
  }

  private mark(client: number, clock: number, index: number): void {
    this.markClient = client
    this.markClock = clock
    this.markIndex = index
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
 * The leftmost changed item and the visible units before it (before the transaction), found by
 * walking out from `from` (with `index` units before it) in both directions until every changed
 * item was met.
 */
function leftmost(
  from: Y.Item,
  index: number,
  changed: Map<Y.Item, number>,
): { first: Y.Item; index: number } {
  let found = 0
  let right: Y.Item | null = from
  let rightIndex = index
  let left: Y.Item | null = from.left
  let leftIndex = index
  let firstRight: Y.Item | null = null
  let firstRightIndex = 0
  let firstLeft: Y.Item | null = null
  let firstLeftIndex = 0
  while (found < changed.size && (right !== null || left !== null)) {
    if (right !== null) {
      walked++
      if (changed.has(right)) {
        found++
        if (firstRight === null) {
          firstRight = right
          firstRightIndex = rightIndex
        }
      }
      rightIndex += unitsBefore(right, changed)
      right = right.right
    }
    if (left !== null && found < changed.size) {
      walked++
      leftIndex -= unitsBefore(left, changed)
      if (changed.has(left)) {
        found++
        firstLeft = left
        firstLeftIndex = leftIndex
      }
      left = left.left
    }
  }
  if (firstLeft) return { first: firstLeft, index: firstLeftIndex }
  if (firstRight) return { first: firstRight, index: firstRightIndex }
  throw new Error('a changed item is not in its text')
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

/** Applies `delta` to `text` (a string; for tests and checks). */
export function applyDelta(text: string, delta: TextDelta): string {
  let out = ''
  let at = 0
  for (const run of delta) {
    if ('retain' in run) {
      out += text.slice(at, at + run.retain)
      at += run.retain
    } else if ('delete' in run) at += run.delete
    else out += run.insert
  }
  return out + text.slice(at)
}
