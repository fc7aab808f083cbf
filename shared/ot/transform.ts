/**
 * Transformation of text ops (inclusion transformation, TP1): `transform(op, other, side)` rewrites `op`
 * so it applies after `other`, and `transformPosition` moves a cursor through an op.
 *
 * Ties (both ops insert at one position) go by `side`: the 'left' op's text ends up first. The rules follow
 * ot-text-unicode exactly (so the two agree on every BMP-only input): an insert of `op` stays before an
 * insert of `other` only on the left side and only when it is the very next component of `op`; deletes of
 * text the other op already deleted vanish; inserts inside a range the other op deletes survive.
 */
import { InvalidOpError } from './errors.ts'
import { checkOp, consumedLength, deleteLength, makeAppend, type TextOp, trim } from './op.ts'
import { OpIterator } from './op-iterator.ts'

/** Which of two concurrent ops wins a tie at one position ('left' goes first). */
export type Side = 'left' | 'right'

/** `op` rewritten to apply after `other`; both must apply to the same document. */
export function transform(op: TextOp, other: TextOp, side: Side): TextOp {
  if (side !== 'left' && side !== 'right')
    throw new InvalidOpError(`side must be 'left' or 'right', got ${side}`)
  checkOp(op)
  checkOp(other)
  const out: TextOp = []
  const append = makeAppend(out)
  const it = new OpIterator(op)
  for (const c of other) {
    if (typeof c === 'number') {
      let length = c
      while (length > 0) {
        const piece = it.take(length, 'i')!
        append(piece)
        if (typeof piece !== 'string') length -= consumedLength(piece)
      }
    } else if (typeof c === 'string') {
      if (side === 'left' && typeof it.peek() === 'string') append(it.take(-1, null))
      append(c.length)
    } else {
      let length = deleteLength(c.d)
      while (length > 0) {
        const piece = it.take(length, 'i')!
        if (typeof piece === 'string') append(piece)
        else length -= consumedLength(piece)
      }
    }
  }
  for (let c = it.take(-1, null); c !== null; c = it.take(-1, null)) append(c)
  return trim(out)
}

/**
 * `cursor` moved through `op`. An insert exactly at the cursor leaves it before the text, as in
 * ot-text-unicode, unless `stickToEnd` is true; a cursor inside a deleted range moves to its start.
 */
export function transformPosition(cursor: number, op: TextOp, stickToEnd = false): number {
  let pos = 0
  for (let i = 0; i < op.length && (cursor > pos || (stickToEnd && cursor === pos)); i++) {
    const c = op[i]
    if (typeof c === 'number') pos += c
    else if (typeof c === 'string') {
      pos += c.length
      cursor += c.length
    } else cursor -= Math.min(deleteLength(c.d), cursor - pos)
  }
  return cursor
}

/** A selection (a cursor, or an [anchor, head] pair) moved through `op`. */
export function transformSelection<S extends number | [number, number]>(selection: S, op: TextOp): S {
  if (typeof selection === 'number') return transformPosition(selection, op) as S
  return [transformPosition(selection[0], op), transformPosition(selection[1], op)] as S
}
