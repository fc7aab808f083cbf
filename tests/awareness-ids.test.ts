/**
 * A connection's awareness client ids (server/ws/awareness-ids.ts) behave as the Set they replace:
 * any sequence of adds, deletes and clears leaves the same size, membership and ids in the same
 * order as a Set given the same sequence.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AwarenessIdSet } from '../server/ws/awareness-ids.ts'

type Op = { kind: 'add' | 'delete'; id: number } | { kind: 'clear' }

describe('AwarenessIdSet', () => {
  it('holds one id without a Set, and more in insertion order', () => {
    const ids = new AwarenessIdSet()
    expect(ids.size).toBe(0)
    expect([...ids]).toEqual([])
    ids.add(4_000_000_000)
    expect(ids.has(4_000_000_000)).toBe(true)
    expect(ids.has(-1)).toBe(false)
    expect(ids.size).toBe(1)
    ids.add(7).add(4_000_000_000)
    expect([...ids]).toEqual([4_000_000_000, 7])
    expect(ids.delete(4_000_000_000)).toBe(true)
    expect(ids.delete(4_000_000_000)).toBe(false)
    expect([...ids]).toEqual([7])
    ids.clear()
    expect(ids.size).toBe(0)
    expect(ids.delete(-1)).toBe(false)
  })

  it('matches a Set over any sequence of adds, deletes and clears', () => {
    const id = fc.integer({ min: 0, max: 5 }).map((i) => [0, 1, 2, 2 ** 31, 2 ** 32 - 1, 12345][i])
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), id }),
      fc.record({ kind: fc.constant('delete' as const), id }),
      fc.constant({ kind: 'clear' as const }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const small = new AwarenessIdSet()
        const set = new Set<number>()
        for (const o of ops) {
          if (o.kind === 'clear') {
            small.clear()
            set.clear()
          } else if (o.kind === 'add') {
            small.add(o.id)
            set.add(o.id)
          } else expect(small.delete(o.id)).toBe(set.delete(o.id))
          expect(small.size).toBe(set.size)
          expect([...small]).toEqual([...set])
          for (const i of [0, 1, 2, 2 ** 31, 2 ** 32 - 1, 12345]) expect(small.has(i)).toBe(set.has(i))
        }
      }),
    )
  })
})
