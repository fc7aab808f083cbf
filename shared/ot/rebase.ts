/**
 * Rebasing a text edit made to an old version of a document over the changes made since: the
 * HTTP API's `POST …/text` with `base` (PROTOCOL.md "The document over HTTP").
 *
 *   edit {index, delete, insert}  ->  op [index, {d: delete}, insert]
 *   for each change since base, in order: op = transform(op, change, 'right')
 *
 * The edit is the right-hand op, so where it and a change insert at one place the change's text
 * comes first; a range a change deleted is not deleted twice; text a change inserted inside the
 * edit's deleted range survives. Changes come as deltas in the Quill form `Y.Text` observers get
 * (`{retain} | {insert} | {delete}` runs; formatting attributes are ignored, they do not change
 * the text; an embed counts one unit, as in `Y.Text`). Every index counts UTF-16 code units.
 */
import { type Component, deleteLength, makeAppend, normalize, type TextOp, trim } from './op.ts'
import { transform } from './transform.ts'

/** At `index`, delete `delete` units, then insert `insert` (UTF-16 units throughout). */
export interface TextEdit {
  readonly index: number
  readonly delete: number
  readonly insert: string
}

/** One run of a delta in Quill form, as `Y.YTextEvent.delta` gives it. */
export interface DeltaRun {
  readonly retain?: number
  readonly insert?: unknown
  readonly delete?: number
}

/** A change to a text as a list of runs; what is past the last run is unchanged. */
export type Delta = readonly DeltaRun[]

/** An edit carried to the current text: the op to apply, and where its insert lands. */
export interface RebasedEdit {
  /** The edit as an op on the current text (empty when nothing is left to do). */
  readonly op: TextOp
  /** Where the insert lands in the text after `op` (where it would land when `insert` is ""). */
  readonly index: number
}

/** Stands in for an empty insert while rebasing, so its landing place is tracked all the same. */
const MARK = '\u0000'

/** A delta as a text op. An embed becomes one unit of U+FFFC (only its length matters here). */
export function deltaToOp(delta: Delta): TextOp {
  const op: TextOp = []
  const append = makeAppend(op)
  for (const run of delta) {
    if (run.insert !== undefined) append(typeof run.insert === 'string' ? run.insert : '\uFFFC')
    else if (run.delete !== undefined) append({ d: run.delete })
    else if (run.retain !== undefined) append(run.retain)
  }
  return trim(op)
}

/** An op as a delta (deletes by count), e.g. for `Y.Text.applyDelta`. */
export function opToDelta(op: TextOp): DeltaRun[] {
  return op.map((c) =>
    typeof c === 'number'
      ? { retain: c }
      : typeof c === 'string'
        ? { insert: c }
        : { delete: deleteLength(c.d) },
  )
}

/** Units a delta adds to a text's length (negative when it removes more than it adds). */
export function lengthChange(delta: Delta): number {
  let n = 0
  for (const run of delta) {
    if (run.insert !== undefined) n += typeof run.insert === 'string' ? run.insert.length : 1
    else if (run.delete !== undefined) n -= run.delete
  }
  return n
}

/**
 * `edit`, made to some text, carried over `changes` (deltas made to that text since, in order),
 * so that it applies to the text they lead to. Transforming over the deltas one by one equals
 * transforming over their composition (TP1 for this type).
 */
export function rebaseEdit(edit: TextEdit, changes: Iterable<Delta>): RebasedEdit {
  let op: TextOp = normalize([edit.index, { d: edit.delete }, edit.insert || MARK])
  for (const delta of changes) {
    const other = deltaToOp(delta)
    if (other.length > 0) op = transform(op, other, 'right')
  }
  return { op: edit.insert ? op : normalize(op.map(dropMark)), index: insertIndex(op) }
}

/** The edit's own insert (never split by transform) becomes nothing when it was only the mark. */
const dropMark = (c: Component): Component => (c === MARK ? '' : c)

/** Where the (only) insert of `op` starts in the text `op` produces. */
function insertIndex(op: TextOp): number {
  let at = 0
  for (const c of op) {
    if (typeof c === 'string') return at
    if (typeof c === 'number') at += c
  }
  return at
}

/**
 * The places an op touches the text it applies to: the start and end of each deleted range and
 * each insert's position (the boundaries that must not split a surrogate pair).
 */
export function opBoundaries(op: TextOp): number[] {
  const out: number[] = []
  let at = 0
  for (const c of op) {
    if (typeof c === 'number') at += c
    else if (typeof c === 'string') out.push(at)
    else {
      out.push(at)
      at += deleteLength(c.d)
      out.push(at)
    }
  }
  return out
}

/**
 * Why `op` cannot apply to a text of `length` units (past its end, or splitting a surrogate pair),
 * or null. `unitsAt` reads the text's code units at the indexes given (NaN past the end): only the
 * units on both sides of each boundary are asked, so a caller can read them without copying the text.
 */
export function opFitProblem(
  op: TextOp,
  length: number,
  unitsAt: (indexes: readonly number[]) => number[],
): string | null {
  const boundaries = opBoundaries(op)
  if (boundaries.length === 0) return null
  if (boundaries[boundaries.length - 1] > length) return 'the edit runs past the end of the text'
  const around = [...new Set(boundaries.flatMap((at) => [at - 1, at]))].filter((at) => at >= 0)
  const units = unitsAt(around)
  const byIndex = new Map(around.map((at, i) => [at, units[i]]))
  const current = { charCodeAt: (at: number) => byIndex.get(at) ?? Number.NaN }
  const split = boundaries.find((at) => splitsSurrogatePair(current, at))
  return split === undefined
    ? null
    : `the edit would split a surrogate pair (at ${split} in the current text)`
}

/** True when `at` falls between the two units of a surrogate pair in `text`. */
export function splitsSurrogatePair(text: { charCodeAt(i: number): number }, at: number): boolean {
  return isHighSurrogate(text.charCodeAt(at - 1)) && isLowSurrogate(text.charCodeAt(at))
}

/** A UTF-16 high (leading) surrogate. */
export const isHighSurrogate = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdbff
/** A UTF-16 low (trailing) surrogate. */
export const isLowSurrogate = (unit: number): boolean => unit >= 0xdc00 && unit <= 0xdfff
