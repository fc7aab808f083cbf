/**
 * Algebraic properties of the OT type on random ops (seeded, see helpers/seed.ts): TP1, compose, invert,
 * transformPosition, the rope against plain strings, and the grammar check.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import {
  apply,
  baseLength,
  checkOp,
  compose,
  InvalidOpError,
  insertOp,
  invert,
  makeInvertible,
  normalize,
  OpDoesNotFitError,
  Rope,
  type TextOp,
  textType,
  transform,
  transformPosition,
} from '../shared/ot/index.ts'
import { randomOp, randomText } from '../shared/ot/random-op.ts'
import { seededTest, withNote } from './helpers/seed.ts'

const RUNS = 2000

/** Runs `body` RUNS times on one seeded PRNG; a failure names the case, the seed and the replay command. */
function forAll(name: string, body: (gen: prng.PRNG) => void): void {
  seededTest(name, (gen) => {
    for (let i = 0; i < RUNS; i++) {
      try {
        body(gen)
      } catch (err) {
        throw withNote(err, `case ${i}`)
      }
    }
  })
}

describe('OT type properties', () => {
  forAll('TP1: both orders of two concurrent ops converge', (gen) => {
    const s = randomText(gen, 12)
    const a = randomOp(gen, s)
    const b = randomOp(gen, s)
    const left = apply(apply(s, a), transform(b, a, 'right'))
    const right = apply(apply(s, b), transform(a, b, 'left'))
    expect(left, JSON.stringify({ s, a, b })).toBe(right)
  })

  forAll('compose(a, b) has the effect of a then b', (gen) => {
    const s = randomText(gen, 12)
    const a = randomOp(gen, s)
    const b = randomOp(gen, apply(s, a))
    expect(apply(s, compose(a, b)), JSON.stringify({ s, a, b })).toBe(apply(apply(s, a), b))
  })

  forAll('invert undoes an op, and compose keeps invertibility', (gen) => {
    const s = randomText(gen, 12)
    const a = makeInvertible(randomOp(gen, s), s)
    const s1 = apply(s, a)
    expect(apply(s1, invert(a))).toBe(s)
    const b = randomOp(gen, s1, { invertible: true })
    expect(apply(apply(s, a), b) === apply(s, compose(a, b))).toBe(true)
    expect(apply(apply(s1, b), invert(compose(a, b)))).toBe(s)
  })

  forAll('transform results are normalized and transform against a no-op is identity', (gen) => {
    const s = randomText(gen, 12)
    const a = randomOp(gen, s)
    const b = randomOp(gen, s)
    checkOp(transform(a, b, 'left'))
    expect(normalize(a)).toEqual(a)
    expect(transform(a, [], 'left')).toEqual(a)
    expect(baseLength(transform(a, b, 'left'))).toBeLessThanOrEqual(apply(s, b).length)
  })

  forAll('a cursor moves with the text around it', (gen) => {
    const s = randomText(gen, 12, { bmpOnly: true })
    const op = randomOp(gen, s, { bmpOnly: true })
    const cursor = prng.uint32(gen, 0, s.length)
    // A marker character inserted at the cursor, winning ties, ends up where the cursor goes.
    const marker = '\u0000'
    const withMarker = insertOp(cursor, marker)
    const marked = apply(apply(s, withMarker), transform(op, withMarker, 'right'))
    expect(transformPosition(cursor, op), JSON.stringify({ s, op, cursor })).toBe(marked.indexOf(marker))
  })

  forAll('the rope applies ops exactly like plain strings', (gen) => {
    let s = randomText(gen, 8)
    const rope = new Rope(s)
    for (let i = 0; i < 20; i++) {
      const op = randomOp(gen, s)
      s = apply(s, op)
      apply(rope, op)
    }
    expect(rope.toString()).toBe(s)
    expect(rope.length).toBe(s.length)
  })
})

describe('the rope on large documents', () => {
  seededTest('keeps long random edit sequences exact across leaf and branch splits and merges', (gen) => {
    let s = 'x'.repeat(20_000)
    const rope = new Rope(s)
    for (let i = 0; i < 5000; i++) {
      const pos = prng.uint32(gen, 0, s.length)
      if (prng.bool(gen) || s.length < 100) {
        const text = prng.bool(gen) ? 'ab' : 'y'.repeat(prng.uint32(gen, 1, 3000))
        s = s.slice(0, pos) + text + s.slice(pos)
        rope.insert(pos, text)
      } else {
        const n = prng.uint32(gen, 0, Math.min(s.length - pos, prng.bool(gen) ? 3 : 4000))
        s = s.slice(0, pos) + s.slice(pos + n)
        rope.delete(pos, n)
      }
      const a = prng.uint32(gen, 0, s.length)
      expect(rope.slice(a, a + 50), `step ${i}`).toBe(s.slice(a, a + 50))
    }
    expect(rope.toString()).toBe(s)
    rope.delete(0, rope.length)
    expect(rope.toString()).toBe('')
    rope.insert(0, 'again')
    expect(rope.toString()).toBe('again')
  })
})

describe('hand-written cases', () => {
  it('transform breaks insert ties by side', () => {
    expect(apply(apply('ab', [1, 'X']), transform([1, 'Y'], [1, 'X'], 'right'))).toBe('aXYb')
    expect(apply(apply('ab', [1, 'X']), transform([1, 'Y'], [1, 'X'], 'left'))).toBe('aYXb')
  })

  it('counts UTF-16 code units: an astral character is two units', () => {
    expect(apply('😀!', [2, 'x'])).toBe('😀x!')
    expect(apply('😀!', [{ d: '😀' }])).toBe('!')
  })

  it('inverts a splice', () => {
    const op = makeInvertible([2, { d: 3 }, 'XY'], 'abcdefg')
    expect(op).toEqual([2, { d: 'cde' }, 'XY'])
    expect(invert(op)).toEqual([2, 'cde', { d: 'XY' }])
  })

  it('exposes an ottype-shaped object', () => {
    const doc = textType.create('hello')
    textType.apply(doc, [5, ' world'])
    expect(textType.serialize(doc)).toBe('hello world')
    expect(textType.deserialize('x').toString()).toBe('x')
    expect(Object.keys(textType)).toEqual(
      expect.arrayContaining(['name', 'create', 'apply', 'transform', 'compose', 'normalize', 'invert']),
    )
  })
})

describe('malformed ops and misuse throw named errors', () => {
  const bad: unknown[] = [
    'abc',
    [0],
    [-1, 'a'],
    [1.5, 'a'],
    [2, 3, 'a'],
    [''],
    [{ d: 0 }],
    [{ d: '' }],
    [{ d: -2 }],
    [{ x: 1 }],
    [{ d: 1, i: 'a' }],
    [null],
    [3],
    ['a', 3],
  ]
  for (const op of bad) {
    it(`rejects ${JSON.stringify(op)}`, () => {
      expect(() => checkOp(op)).toThrow(InvalidOpError)
      expect(() => apply('abcdef', op as TextOp)).toThrow(InvalidOpError)
    })
  }

  it('rejects ops that run past the end or delete text that is not there', () => {
    expect(() => apply('ab', [3, 'x'])).toThrow(OpDoesNotFitError)
    expect(() => apply('ab', [1, { d: 2 }])).toThrow(OpDoesNotFitError)
    expect(() => apply(new Rope('ab'), [{ d: 'x' }])).toThrow(OpDoesNotFitError)
    expect(() => apply(new Rope('ab'), [5, 'x'])).toThrow(OpDoesNotFitError)
  })

  it('rejects a bad side and inverting a counted delete', () => {
    expect(() => transform([], [], 'middle' as 'left')).toThrow(InvalidOpError)
    expect(() => invert([{ d: 1 }])).toThrow(InvalidOpError)
  })
})
