/**
 * Random ops for fuzzing, drawn from a seeded lib0 PRNG (like the genOp that ot-text-unicode ships):
 * every choice comes from the PRNG, so a seed replays a failure exactly.
 */
import * as prng from 'lib0/prng'
import { makeAppend, type TextOp, trim } from './op.ts'

/** Characters random text draws from; the non-BMP ones take two UTF-16 units. */
const BMP = ['a', 'b', 'c', 'x', 'y', ' ', '\n', 'é', 'ß', '中']
const ASTRAL = ['😀', '𝄞']

/** Options for random text and ops. */
export interface RandomOpOptions {
  /** Only BMP characters (one UTF-16 unit each), for comparison with code-point based types. */
  bmpOnly?: boolean
  /** Deletes carry their text (so the op can be inverted). Default: half of them do. */
  invertible?: boolean
}

/** Random text of up to `maxChars` characters. */
export function randomText(gen: prng.PRNG, maxChars: number, options: RandomOpOptions = {}): string {
  const n = prng.uint32(gen, 0, maxChars)
  let s = ''
  for (let i = 0; i < n; i++) {
    s += !options.bmpOnly && prng.uint32(gen, 0, 9) === 0 ? prng.oneOf(gen, ASTRAL) : prng.oneOf(gen, BMP)
  }
  return s
}

/** A random normalized op that applies to `doc`: a few retains, inserts and deletes in document order. */
export function randomOp(gen: prng.PRNG, doc: string, options: RandomOpOptions = {}): TextOp {
  const op: TextOp = []
  const append = makeAppend(op)
  let pos = 0
  const steps = prng.uint32(gen, 0, 5)
  for (let i = 0; i < steps; i++) {
    const rest = doc.length - pos
    const kind = prng.uint32(gen, 0, 2)
    if (kind === 0 && rest > 0) {
      const n = prng.uint32(gen, 1, Math.min(rest, 8))
      append(n)
      pos += n
    } else if (kind === 1 || rest === 0) {
      append(randomText(gen, 4, options) || 'z')
    } else {
      const n = prng.uint32(gen, 1, Math.min(rest, 6))
      const withText = options.invertible ?? prng.bool(gen)
      append({ d: withText ? doc.slice(pos, pos + n) : n })
      pos += n
    }
  }
  return trim(op)
}
