/**
 * The text operation format (the ottypes text convention) and its grammar checks.
 *
 *   op        = component*            (normalized: no trailing retain, no empty or adjacent-mergeable parts)
 *   component = N                     retain (skip) N > 0 units of the document
 *             | "text"                insert this non-empty text here
 *             | { d: N }              delete N > 0 units here
 *             | { d: "text" }         delete this text here (the op stays invertible)
 *
 * Every length counts UTF-16 code units, the unit of JavaScript strings, CodeMirror positions and Y.Text
 * indexes. (ot-text-unicode counts code points; for BMP-only text the two agree.) An op need not retain up
 * to the end of the document: the rest is kept unchanged.
 */
import { InvalidOpError } from './errors.ts'

/** A deletion: a count, or the deleted text itself (which makes the op invertible). */
export type Delete = { d: number | string }
/** One step of an operation: retain (number), insert (string) or delete (object). */
export type Component = number | string | Delete
/** A text operation: components applied left to right over the document. */
export type TextOp = Component[]

/** Length in UTF-16 units of a delete's payload. */
export const deleteLength = (d: number | string): number => (typeof d === 'number' ? d : d.length)

/** Units of the source document a component consumes (inserts consume none). */
export function consumedLength(c: Component): number {
  if (typeof c === 'number') return c
  if (typeof c === 'string') return 0
  return deleteLength(c.d)
}

/** Throws InvalidOpError unless `op` follows the grammar above (normalized form). */
export function checkOp(op: unknown): asserts op is TextOp {
  if (!Array.isArray(op)) throw new InvalidOpError('an op must be an array of components')
  let last: unknown = null
  for (let i = 0; i < op.length; i++) {
    const c: unknown = op[i]
    if (typeof c === 'number') {
      if (!Number.isSafeInteger(c) || c <= 0)
        throw new InvalidOpError(`component ${i}: retain must be a positive integer`)
      if (typeof last === 'number')
        throw new InvalidOpError(`component ${i}: adjacent retains must be merged`)
    } else if (typeof c === 'string') {
      if (c.length === 0) throw new InvalidOpError(`component ${i}: insert must not be empty`)
    } else if (typeof c === 'object' && c !== null && 'd' in c && Object.keys(c).length === 1) {
      const d = (c as { d: unknown }).d
      if (typeof d === 'number') {
        if (!Number.isSafeInteger(d) || d <= 0)
          throw new InvalidOpError(`component ${i}: delete count must be > 0`)
      } else if (typeof d !== 'string' || d.length === 0) {
        throw new InvalidOpError(`component ${i}: delete must be a positive count or non-empty text`)
      }
    } else {
      throw new InvalidOpError(`component ${i}: expected a number, a string or {d}, got ${JSON.stringify(c)}`)
    }
    last = c
  }
  if (typeof last === 'number') throw new InvalidOpError('an op must not end with a retain')
}

/**
 * Returns a function that appends a component to `op`, merging it into the last one where the grammar
 * asks (retain+retain, insert+insert, delete+delete) and dropping no-ops. Deletes keep their text only
 * when both parts carry it.
 */
export function makeAppend(op: TextOp): (c: Component | null) => void {
  return (c) => {
    if (c === null || c === 0 || c === '') return
    if (typeof c === 'object' && (c.d === 0 || c.d === '')) return
    if (op.length === 0) {
      op.push(c)
      return
    }
    const last = op[op.length - 1]
    if (typeof c === 'number' && typeof last === 'number') op[op.length - 1] = last + c
    else if (typeof c === 'string' && typeof last === 'string') op[op.length - 1] = last + c
    else if (typeof c === 'object' && typeof last === 'object') {
      op[op.length - 1] = {
        d:
          typeof last.d === 'string' && typeof c.d === 'string'
            ? last.d + c.d
            : deleteLength(last.d) + deleteLength(c.d),
      }
    } else op.push(c)
  }
}

/** Drops a trailing retain (at most one exists in an op built with makeAppend). */
export function trim(op: TextOp): TextOp {
  if (op.length > 0 && typeof op[op.length - 1] === 'number') op.pop()
  return op
}

/** Returns the normalized form of a loosely built op (zero-length parts, unmerged neighbours, tail retain). */
export function normalize(op: TextOp): TextOp {
  const out: TextOp = []
  const append = makeAppend(out)
  for (const c of op) append(typeof c === 'object' ? { d: c.d } : c)
  return trim(out)
}

/** Minimum document length the op can apply to (the units it retains or deletes). */
export function baseLength(op: TextOp): number {
  let n = 0
  for (const c of op) n += consumedLength(c)
  return n
}

/** An op inserting `text` at `pos`. */
export const insertOp = (pos: number, text: string): TextOp => normalize([pos, text])

/** An op deleting `lengthOrText` (a count, or the text itself to keep the op invertible) at `pos`. */
export const deleteOp = (pos: number, lengthOrText: number | string): TextOp =>
  normalize([pos, { d: lengthOrText }])

/** An op for a splice patch `[pos, deleteCount, insertText]`, the editing-trace patch format. */
export const spliceOp = (pos: number, deleteCount: number, text: string): TextOp =>
  normalize([pos, { d: deleteCount }, text])

/** True if every delete in `op` carries its text, so `invert` can undo it. */
export const isInvertible = (op: TextOp): boolean =>
  op.every((c) => typeof c !== 'object' || typeof c.d === 'string')
