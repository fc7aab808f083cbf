/**
 * Applying text ops to a document: a Rope (edited in place, O(log n) per component, for real documents)
 * or a plain string (copied, fine for tests and small texts). Every op is checked on entry.
 */
import { OpDoesNotFitError } from './errors.ts'
import { checkOp, deleteLength, type TextOp } from './op.ts'
import type { Rope } from './rope.ts'

/** Applies `op` to the rope in place and returns it; throws OpDoesNotFitError (rope untouched) if it does not fit. */
export function apply(doc: Rope, op: TextOp): Rope
/** Returns the string `op` makes of `doc`; throws OpDoesNotFitError if the op runs past the end. */
export function apply(doc: string, op: TextOp): string
export function apply(doc: Rope | string, op: TextOp): Rope | string {
  checkOp(op)
  return typeof doc === 'string' ? applyToString(doc, op) : applyToRope(doc, op)
}

function applyToRope(rope: Rope, op: TextOp): Rope {
  checkFits(rope, op)
  let pos = 0
  for (const c of op) {
    if (typeof c === 'number') pos += c
    else if (typeof c === 'string') {
      rope.insert(pos, c)
      pos += c.length
    } else rope.delete(pos, deleteLength(c.d))
  }
  return rope
}

/** Throws OpDoesNotFitError unless `op` fits the rope, so a failed apply leaves the rope untouched. */
function checkFits(rope: Rope, op: TextOp): void {
  let pos = 0
  for (const c of op) {
    if (typeof c === 'string') continue
    const n = typeof c === 'number' ? c : deleteLength(c.d)
    if (pos + n > rope.length)
      throw new OpDoesNotFitError(`op runs to ${pos + n}, past the end (${rope.length})`)
    if (typeof c === 'object' && typeof c.d === 'string' && rope.slice(pos, pos + n) !== c.d) {
      throw new OpDoesNotFitError(`delete at ${pos}: the document does not hold ${JSON.stringify(c.d)}`)
    }
    pos += n
  }
}

function applyToString(doc: string, op: TextOp): string {
  const parts: string[] = []
  let pos = 0
  for (const c of op) {
    if (typeof c === 'number') {
      if (pos + c > doc.length)
        throw new OpDoesNotFitError(`retain to ${pos + c} past the end (${doc.length})`)
      parts.push(doc.slice(pos, pos + c))
      pos += c
    } else if (typeof c === 'string') parts.push(c)
    else {
      const n = deleteLength(c.d)
      if (pos + n > doc.length)
        throw new OpDoesNotFitError(`delete to ${pos + n} past the end (${doc.length})`)
      if (typeof c.d === 'string' && doc.slice(pos, pos + n) !== c.d) {
        throw new OpDoesNotFitError(`delete at ${pos}: the document does not hold ${JSON.stringify(c.d)}`)
      }
      pos += n
    }
  }
  parts.push(doc.slice(pos))
  return parts.join('')
}

/** `op` with every counted delete replaced by the text it deletes from `doc`, so `invert` can undo it. */
export function makeInvertible(op: TextOp, doc: Rope | string): TextOp {
  checkOp(op)
  let pos = 0
  return op.map((c) => {
    if (typeof c === 'string') return c
    const n = typeof c === 'number' ? c : deleteLength(c.d)
    const at = pos
    pos += n
    if (typeof c === 'number') return c
    if (at + n > doc.length) throw new OpDoesNotFitError(`delete to ${at + n} past the end (${doc.length})`)
    return { d: doc.slice(at, at + n) }
  })
}
