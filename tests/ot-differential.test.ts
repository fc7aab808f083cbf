/**
 * Differential test against the published ot-text-unicode type (ottypes/text): on random BMP-only docs and
 * ops, where code points and UTF-16 units coincide, apply, transform, compose and transformPosition must
 * give exactly the same results. Seeded, see helpers/seed.ts.
 */
import * as prng from 'lib0/prng'
import { type as reference } from 'ot-text-unicode'
import { describe, expect } from 'vitest'
import { apply, compose, Rope, transform, transformPosition } from '../shared/ot/index.ts'
import { randomOp, randomText } from '../shared/ot/random-op.ts'
import { seededTest } from './helpers/seed.ts'

const RUNS = 3000
const bmp = { bmpOnly: true }

describe('agreement with ot-text-unicode', () => {
  seededTest('apply, transform, compose and transformPosition agree on random BMP-only ops', (gen) => {
    for (let i = 0; i < RUNS; i++) {
      const s = randomText(gen, 12, bmp)
      const a = randomOp(gen, s, bmp)
      const b = randomOp(gen, s, bmp)
      const c = randomOp(gen, apply(s, a), bmp)
      const cursor = prng.uint32(gen, 0, s.length)
      const where = `case ${i} ${JSON.stringify({ s, a, b, c })}`
      expect(apply(s, a), where).toBe(reference.apply(s, a))
      expect(apply(new Rope(s), a).toString(), where).toBe(reference.apply(s, a))
      expect(transform(a, b, 'left'), where).toEqual(reference.transform(a, b, 'left'))
      expect(transform(a, b, 'right'), where).toEqual(reference.transform(a, b, 'right'))
      expect(compose(a, c), where).toEqual(reference.compose(a, c))
      expect(transformPosition(cursor, a), where).toBe(reference.transformPosition(cursor, a))
    }
  })
})
