/**
 * Version chains (server/history/version-chain.ts) on the memory version log: random edits made
 * into versions by the checkpoint rule rebuild to the real texts, and still do after random
 * removals rewrite what follows them (seeded); plans made on versions changed since are refused.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import {
  composeAll,
  opBytesSinceCheckpoint,
  opOfDeltas,
  rebuildTextSliced,
  rewriteForRemoval,
} from '../server/history/version-chain.ts'
import { MemoryVersionLog } from '../server/store/memory-version-log.ts'
import { StaleVersionBaseError } from '../server/store/version-checks.ts'
import { apply } from '../shared/ot/apply.ts'
import type { TextOp } from '../shared/ot/op.ts'
import { opToDelta } from '../shared/ot/rebase.ts'
import { seededTest, seedRange } from './helpers/seed.ts'
import { autoVersion, VersionHistory as History } from './helpers/version-history.ts'

const ROOM = 'r'
const facts = autoVersion

describe('version chain', () => {
  it('composes deltas into one op, pairwise', () => {
    const ops: TextOp[] = [['ab'], [1, 'x'], [{ d: 1 }], [2, 'yz']]
    let text = ''
    for (const op of ops) text = apply(text, op)
    expect(apply('', composeAll(ops))).toBe(text)
    expect(apply('', opOfDeltas(ops.map(opToDelta).concat([[]])))).toBe('xbyz')
  })

  it('stores the first version whole, then ops until they outgrow the text', async () => {
    const history = new History(new MemoryVersionLog())
    const gen = prng.create(1)
    for (let i = 0; i < 30; i++) await history.edit(gen, 3)
    const chain = await history.store.versionChain(ROOM, 30)
    expect('text' in chain[0].content).toBe(true)
    expect(opBytesSinceCheckpoint(chain)).toBeLessThanOrEqual(Buffer.byteLength(history.texts.get(30)!))
    const all = await Promise.all(
      (await history.store.listVersions(ROOM)).map((v) => history.store.versionChain(ROOM, v.id)),
    )
    expect(all[0]).toHaveLength(1)
    await history.check()
  })

  seededTest(
    'rebuilt texts equal the real ones after random removals',
    async (gen) => {
      const history = new History(new MemoryVersionLog())
      await history.randomRounds(gen, 6)
      const latest = [...history.texts.keys()].at(-1)!
      expect(await rebuildTextSliced(await history.store.versionChain(ROOM, latest))).toBe(
        history.texts.get(latest),
      )
    },
    { seeds: seedRange(20) },
  )

  it('refuses an op on a version that is no longer the latest', async () => {
    const history = new History(new MemoryVersionLog())
    const gen = prng.create(2)
    await history.edit(gen, 2)
    await history.edit(gen, 2)
    await expect(history.store.addVersion(ROOM, facts(10, 0), { op: ['x'], base: 1 })).rejects.toThrow(
      StaleVersionBaseError,
    )
    await expect(new MemoryVersionLog().addVersion(ROOM, facts(1, 1), { op: ['x'] })).rejects.toThrow(
      StaleVersionBaseError,
    )
  })

  it('refuses a removal planned on versions another instance has removed since', async () => {
    const history = new History(new MemoryVersionLog())
    const gen = prng.create(3)
    history.text = 'x'.repeat(500)
    for (let i = 0; i < 4; i++) await history.edit(gen, 3)
    const chain4 = await history.store.versionChain(ROOM, 4)
    expect(chain4.map((v) => v.id)).toEqual([1, 2, 3, 4])
    // B plans to remove 3 (4's op then applies to 2); A removes 2 first.
    const planB = new Map([[4, (await rewriteForRemoval(chain4, new Set([3])))!]])
    await history.remove([2])
    await expect(history.store.removeVersions(ROOM, [3], planB)).rejects.toThrow(StaleVersionBaseError)
    await history.check()
    // Planned without 4's new content: refused too.
    await expect(history.store.removeVersions(ROOM, [3], new Map())).rejects.toThrow(StaleVersionBaseError)
    await history.check()
  })

  it('an automatic version at a change the latest already reaches is not made', async () => {
    const log = new MemoryVersionLog()
    expect(await log.addVersion(ROOM, facts(5, 1), { text: 'a' })).toMatchObject({ id: 1 })
    expect(await log.addVersion(ROOM, facts(5, 1), { text: 'a' })).toBeNull()
    expect(
      await log.addVersion(ROOM, { ...facts(5, 1), kind: 'named', name: 'n' }, { op: [], base: 1 }),
    ).toMatchObject({
      id: 2,
    })
    await log.removeVersions(ROOM, [2], new Map())
    expect(await log.addVersion(ROOM, facts(6, 1), { op: [], base: 1 })).toMatchObject({ id: 3 })
  })
})
