/**
 * Composition and inversion of text ops: `compose(a, b)` is one op with the effect of `a` then `b`;
 * `invert(op)` undoes an invertible op (one whose deletes carry their text).
 */
import { InvalidOpError } from './errors.ts'
import { checkOp, deleteLength, isInvertible, makeAppend, type TextOp, trim } from './op.ts'
import { OpIterator } from './op-iterator.ts'

/** One op equivalent to applying `a` and then `b` (`b` applies to the result of `a`). */
export function compose(a: TextOp, b: TextOp): TextOp {
  checkOp(a)
  checkOp(b)
  const out: TextOp = []
  const append = makeAppend(out)
  const it = new OpIterator(a)
  for (const c of b) {
    if (typeof c === 'number') {
      let length = c
      while (length > 0) {
        const piece = it.take(length, 'd')!
        append(piece)
        if (typeof piece !== 'object') length -= typeof piece === 'number' ? piece : piece.length
      }
    } else if (typeof c === 'string') {
      append(c)
    } else {
      const length = deleteLength(c.d)
      let offset = 0
      while (offset < length) {
        const piece = it.take(length - offset, 'd')!
        if (typeof piece === 'number') {
          append({ d: typeof c.d === 'number' ? piece : c.d.slice(offset, offset + piece) })
          offset += piece
        } else if (typeof piece === 'string') offset += piece.length
        else append(piece)
      }
    }
  }
  for (let c = it.take(-1, null); c !== null; c = it.take(-1, null)) append(c)
  return trim(out)
}

/** The op that undoes `op`; throws InvalidOpError unless every delete carries its text (see makeInvertible). */
export function invert(op: TextOp): TextOp {
  checkOp(op)
  if (!isInvertible(op))
    throw new InvalidOpError('op deletes by count only; use makeInvertible(op, doc) first')
  return op.map((c) => (typeof c === 'number' ? c : typeof c === 'string' ? { d: c } : (c.d as string)))
}
