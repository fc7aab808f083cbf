/**
 * Random text edits for the rebase tests, every choice from a seeded lib0 PRNG (see seed.ts): text
 * drawn from a set of characters, the offsets between characters, an edit as a program sends one,
 * and a change typed into a Y.Text as an editor makes one. Offsets never fall inside a surrogate
 * pair.
 */
import * as prng from 'lib0/prng'
import type * as Y from 'yjs'
import type { TextEdit } from '../../shared/ot/index.ts'

/** Between `min` and `max` characters drawn from `chars`. */
export function randomText(gen: prng.PRNG, chars: readonly string[], min: number, max: number): string {
  let s = ''
  for (let n = prng.uint32(gen, min, max); n > 0; n--) s += prng.oneOf(gen, chars as string[])
  return s
}

/** The offsets between the characters of `s`, 0 and its length included. */
export function boundaries(s: string): number[] {
  const out = [0]
  let at = 0
  for (const ch of s) {
    at += ch.length
    out.push(at)
  }
  return out
}

/** An edit of `s`: a range (empty half the time) replaced by up to 3 characters of `chars`. */
export function randomEdit(gen: prng.PRNG, s: string, chars: readonly string[]): TextEdit {
  const b = boundaries(s)
  const index = prng.oneOf(gen, b)
  const end = prng.bool(gen)
    ? prng.oneOf(
        gen,
        b.filter((x) => x >= index),
      )
    : index
  return { index, delete: end - index, insert: randomText(gen, chars, 0, 3) }
}

/**
 * Types one change into `text` in one transaction: deletes a range half the time, and inserts 1 to
 * 3 characters of `chars` at its place (always when nothing was deleted, else half the time).
 */
export function typeRandomly(gen: prng.PRNG, text: Y.Text, chars: readonly string[]): void {
  const s = text.toString()
  const b = boundaries(s)
  const at = prng.oneOf(gen, b)
  const deletes = at < s.length && prng.bool(gen)
  text.doc!.transact(() => {
    if (deletes)
      text.delete(
        at,
        prng.oneOf(
          gen,
          b.filter((x) => x > at),
        ) - at,
      )
    if (!deletes || prng.bool(gen)) text.insert(at, randomText(gen, chars, 1, 3))
  })
}
