/**
 * The diff of two texts (server/history/text-diff.ts): for seeded random texts (astral and
 * combining characters, emoji sharing a high surrogate) and random edits of them, the runs turn the
 * old text into the new one, no run boundary splits a surrogate pair in either text, the counts add
 * up; a range of the old text maps onto the new one as restore needs it.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { applyRuns, type DiffRun, diffTexts, mapRange, runsToOp } from '../server/history/text-diff.ts'
import { DiffBusyError, INLINE_UNITS, MAX_WAITING, TextDiffer } from '../server/history/text-differ.ts'
import { apply } from '../shared/ot/index.ts'
import { seededTest } from './helpers/seed.ts'

// 😀 😁 🙂 share their high surrogate (U+D83D); 𝔘 does not.
const PIECES = ['a', 'bc', 'the ', '😀', '😁', '🙂', 'e\u0301', '\n', '𝔘𝔫', 'long piece of text ', 'x\ny\n']

function randomText(gen: prng.PRNG, pieces: number): string {
  let text = ''
  for (let i = 0; i < pieces; i++) text += prng.oneOf(gen, PIECES)
  return text
}

/** A code point boundary of `text` at or before `at`. */
function boundary(text: string, at: number): number {
  const unit = text.charCodeAt(at)
  return unit >= 0xdc00 && unit <= 0xdfff ? at - 1 : at
}

/** `text` with a few random replacements at code point boundaries. */
function edited(gen: prng.PRNG, text: string): string {
  let out = text
  const edits = prng.uint32(gen, 0, 6)
  for (let i = 0; i < edits; i++) {
    const from = boundary(out, prng.uint32(gen, 0, out.length))
    const to = boundary(out, Math.min(out.length, from + prng.uint32(gen, 0, 12)))
    out = out.slice(0, from) + randomText(gen, prng.uint32(gen, 0, 3)) + out.slice(Math.max(from, to))
  }
  return out
}

const splits = (text: string, at: number) =>
  at > 0 && at < text.length && /[\ud800-\udbff]/.test(text[at - 1]) && /[\udc00-\udfff]/.test(text[at])

/** Every run boundary, as a position in the old and in the new text. */
function boundaries(runs: readonly DiffRun[]): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let old = 0
  let now = 0
  for (const run of runs) {
    if ('equal' in run) {
      old += run.equal
      now += run.equal
    } else if ('delete' in run) old += run.delete.length
    else now += run.insert.length
    out.push([old, now])
  }
  return out
}

function checkDiff(a: string, b: string) {
  const diff = diffTexts(a, b)
  expect(applyRuns(a, diff.runs)).toBe(b)
  expect(apply(a, runsToOp(diff.runs))).toBe(b)
  for (const [old, now] of boundaries(diff.runs)) {
    expect(splits(a, old), `old text split at ${old}`).toBe(false)
    expect(splits(b, now), `new text split at ${now}`).toBe(false)
  }
  let inserted = 0
  let deleted = 0
  let old = 0
  for (const run of diff.runs) {
    if ('equal' in run) {
      expect(run.equal).toBeGreaterThan(0)
      old += run.equal
    } else if ('delete' in run) {
      expect(a.slice(old, old + run.delete.length)).toBe(run.delete)
      old += run.delete.length
      deleted += run.delete.length
    } else inserted += run.insert.length
  }
  expect(old).toBe(a.length)
  expect({ inserted, deleted }).toEqual({ inserted: diff.inserted, deleted: diff.deleted })
  return diff
}

describe('diffTexts', () => {
  it('diffs by words, leaving unchanged text as equal runs', () => {
    expect(diffTexts('the cat sat', 'the dog sat').runs).toEqual([
      { equal: 4 },
      { delete: 'cat' },
      { insert: 'dog' },
      { equal: 4 },
    ])
    expect(diffTexts('', '').runs).toEqual([])
    expect(diffTexts('', 'new')).toEqual({ runs: [{ insert: 'new' }], inserted: 3, deleted: 0 })
    expect(diffTexts('old', '')).toEqual({ runs: [{ delete: 'old' }], inserted: 0, deleted: 3 })
  })

  it('never splits a surrogate pair, even between emoji sharing their high half', () => {
    // 😀 and 😁 differ only in the low surrogate: the library alone would keep U+D83D as equal.
    expect(diffTexts('a😀b', 'a😁b').runs).toEqual([
      { equal: 1 },
      { delete: '😀' },
      { insert: '😁' },
      { equal: 1 },
    ])
    checkDiff('😀', '😀😁')
    checkDiff('😀😀', '😀😁😀')
    checkDiff('x😀', 'x😁🙂')
    checkDiff('e\u0301', 'e\u0300')
  })

  seededTest('runs turn random texts into their random edits', (gen) => {
    for (let i = 0; i < 300; i++) {
      const a = randomText(gen, prng.uint32(gen, 0, 40))
      checkDiff(a, prng.bool(gen) ? edited(gen, a) : randomText(gen, prng.uint32(gen, 0, 40)))
    }
  })

  seededTest(
    'a long text with scattered edits diffs exactly, also when the search runs out of time',
    (gen) => {
      const a = randomText(gen, 20_000)
      let b = a
      for (let i = 0; i < 50; i++) b = edited(gen, b)
      checkDiff(a, b)
      // No time at all: what is left after the common ends becomes one replacement, pairs kept whole.
      const coarse = diffTexts(a, b, { deadlineMs: 0.001 })
      expect(applyRuns(a, coarse.runs)).toBe(b)
    },
  )
})

describe('mapRange', () => {
  const runs = (a: string, b: string) => diffTexts(a, b).runs

  it('keeps text inserted at the ends of a range outside it', () => {
    // "def" at 3..6; "X" was inserted at 3 and "Y" at 6.
    expect(mapRange(runs('abcdefgh', 'abcXdefYgh'), 3, 6)).toEqual({ from: 4, to: 7 })
  })

  it('takes in the replacement of a stretch it covers whole', () => {
    expect(mapRange(runs('one two three', 'one 2 three'), 4, 7)).toEqual({ from: 4, to: 5 })
  })

  it('keeps the replacement of a stretch it covers in part outside it', () => {
    const r = runs('one two three', 'one 2 three')
    expect(mapRange(r, 5, 13)).toEqual({ from: 5, to: 11 })
    expect(mapRange(r, 0, 6)).toEqual({ from: 0, to: 4 })
  })

  it('lands a range whose text was deleted as an empty range where it was', () => {
    expect(mapRange(runs('keep gone keep', 'keep keep'), 5, 10)).toEqual({ from: 5, to: 5 })
  })

  seededTest('maps unchanged text onto itself, and every range inside the new text', (gen) => {
    for (let i = 0; i < 300; i++) {
      const a = randomText(gen, prng.uint32(gen, 1, 40))
      const b = edited(gen, a)
      const diff = diffTexts(a, b)
      const from = boundary(a, prng.uint32(gen, 0, a.length))
      const to = Math.max(from, boundary(a, prng.uint32(gen, 0, a.length)))
      const mapped = mapRange(diff.runs, from, to)
      expect(0 <= mapped.from && mapped.from <= mapped.to && mapped.to <= b.length).toBe(true)
      expect(splits(b, mapped.from) || splits(b, mapped.to)).toBe(false)
      // The whole text maps onto all of the new one but what was inserted at its two ends.
      const whole = mapRange(diff.runs, 0, a.length)
      const [head, tail] = insertedAtEnds(diff.runs)
      expect(whole).toEqual({ from: head.length, to: b.length - tail.length })
      if (unchanged(diff.runs, from, to)) expect(b.slice(mapped.from, mapped.to)).toBe(a.slice(from, to))
    }
  })
})

/** Text inserted before the old text's start and after its end (not replacing any of it). */
function insertedAtEnds(runs: readonly DiffRun[]): [string, string] {
  const first = runs[0]
  const last = runs[runs.length - 1]
  const beforeLast = runs[runs.length - 2]
  const head = first && 'insert' in first ? first.insert : ''
  const pure = runs.length > 1 && !(beforeLast && 'delete' in beforeLast)
  const tail = pure && last && 'insert' in last ? last.insert : ''
  return [head, tail]
}

/** Whether [from, to) of the old text lies inside one equal run. */
function unchanged(runs: readonly DiffRun[], from: number, to: number): boolean {
  let old = 0
  for (const run of runs) {
    if ('insert' in run) continue
    const length = 'equal' in run ? run.equal : run.delete.length
    if ('equal' in run && from >= old && to <= old + length) return true
    old += length
  }
  return false
}

describe('TextDiffer', () => {
  seededTest('diffs long texts on its thread and short middles here, with the same runs', async (gen) => {
    const differ = new TextDiffer()
    const a = randomText(gen, 8_000)
    let b = a
    for (let i = 0; i < 20; i++) b = edited(gen, b)
    const long = await differ.diff(a, b)
    expect(applyRuns(a, long.runs)).toBe(b)
    expect(long.runs.filter((run) => 'equal' in run).every((run) => run.equal > 0)).toBe(true)
    for (const [old, now] of boundaries(long.runs)) expect(splits(a, old) || splits(b, now)).toBe(false)
    // One emoji changed in the middle: the common ends stop short of its high surrogate.
    const c = `${a}😀${a}`
    const d = `${a}😁${a}`
    const short = await differ.diff(c, d)
    expect(short.runs).toEqual([{ equal: a.length }, { delete: '😀' }, { insert: '😁' }, { equal: a.length }])
    expect(await differ.diff(a, a)).toEqual({ runs: [{ equal: a.length }], inserted: 0, deleted: 0 })
  })
})

describe('TextDiffer queue', () => {
  it('refuses a long diff while MAX_WAITING wait for the worker, and takes them again after', async () => {
    const differ = new TextDiffer()
    const a = `${'a'.repeat(INLINE_UNITS)}x`
    const b = `${'b'.repeat(INLINE_UNITS)}x`
    const waiting = Array.from({ length: MAX_WAITING }, () => differ.diff(a, b))
    await expect(differ.diff(a, b)).rejects.toThrow(DiffBusyError)
    for (const diff of await Promise.all(waiting)) expect(applyRuns(a, diff.runs)).toBe(b)
    expect(applyRuns(a, (await differ.diff(a, b)).runs)).toBe(b)
  })
})
