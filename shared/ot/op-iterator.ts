/**
 * A cursor over an op's components that hands them out in pieces of a requested length: the shared walk
 * under `transform` and `compose`. Past the last component the op retains forever.
 */
import { type Component, deleteLength, type TextOp } from './op.ts'

/** Which component kind `take` must not split: 'i' inserts, 'd' deletes, or null for neither. */
export type Indivisible = 'i' | 'd' | null

/** Walks `op`, taking up to n units at a time (see `take`). */
export class OpIterator {
  private index = 0
  /** Units of the current component already taken. */
  private offset = 0

  constructor(private readonly op: TextOp) {}

  /** The next (untaken part of the) component, or undefined at the end. */
  peek(): Component | undefined {
    return this.op[this.index]
  }

  /**
   * Takes up to `n` units of the next component (the whole of it when n is -1, or when it is of the
   * `indivisible` kind). At the end of the op returns a retain of n, or null when n is -1.
   */
  take(n: number, indivisible: Indivisible): Component | null {
    if (this.index === this.op.length) return n === -1 ? null : n
    const c = this.op[this.index]
    const kind = typeof c === 'number' ? null : typeof c === 'string' ? 'i' : 'd'
    const length = typeof c === 'number' ? c : typeof c === 'string' ? c.length : deleteLength(c.d)
    const rest = length - this.offset
    if (n === -1 || rest <= n || (kind !== null && kind === indivisible)) {
      const start = this.offset
      this.index++
      this.offset = 0
      return start === 0 ? c : part(c, start, length)
    }
    const start = this.offset
    this.offset += n
    return part(c, start, start + n)
  }
}

/** The units [start, end) of a component. */
function part(c: Component, start: number, end: number): Component {
  if (typeof c === 'number') return end - start
  if (typeof c === 'string') return c.slice(start, end)
  return { d: typeof c.d === 'number' ? end - start : c.d.slice(start, end) }
}
