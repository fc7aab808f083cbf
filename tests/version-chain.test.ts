/**
 * Version chains (server/history/version-chain.ts) on the memory version log: random edits made
 * into versions by the checkpoint rule rebuild to the real texts, and still do after random
 * removals rewrite what follows them (seeded); plans made on versions changed since are refused.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import type { NewVersion, VersionContent } from '../server/history/history-types.ts'
import {
  type ChainTip,
  composeAll,
  nextContent,
  opBytesSinceCheckpoint,
  opOfDeltas,
  rebuildText,
  rebuildTextSliced,
  rewriteForRemoval,
  StaleVersionBaseError,
} from '../server/history/version-chain.ts'
import { MemoryVersionLog } from '../server/store/memory-version-log.ts'
import { apply } from '../shared/ot/apply.ts'
import type { TextOp } from '../shared/ot/op.ts'
import { randomOp } from '../shared/ot/random-op.ts'
import { opToDelta } from '../shared/ot/rebase.ts'
import { seededTest, seedRange } from './helpers/seed.ts'

const ROOM = 'r'

const facts = (changeId: number, length: number): NewVersion => ({
  at: 1_000 + changeId,
  changeId,
  kind: 'auto',
  name: null,
  length,
  authors: [],
  by: null,
  restoredFrom: null,
})

/** A room's history being written: the real text at every version, to check rebuilds against. */
class History {
  readonly log = new MemoryVersionLog()
  readonly texts = new Map<number, string>()
  text = ''
  changeId = 0
  tip: ChainTip | null = null

  /** `count` random changes, then a version of them (its op from the deltas, or unknown). */
  async edit(gen: prng.PRNG, count: number, opKnown = true): Promise<void> {
    const deltas = []
    for (let i = 0; i < count; i++) {
      const op = randomOp(gen, this.text)
      this.text = apply(this.text, op)
      deltas.push(opToDelta(op))
      this.changeId++
    }
    const op = opOfDeltas(deltas)
    const { content, opBytes } = nextContent(this.tip, opKnown ? op : null, this.text)
    const info = await this.log.addVersion(ROOM, facts(this.changeId, this.text.length), content)
    this.texts.set(info!.id, this.text)
    this.tip = { id: info!.id, opBytes }
  }

  /** Removes `ids`, rewriting what follows them as the versioner does. */
  async remove(ids: number[]): Promise<void> {
    const removed = new Set(ids)
    const rewritten = new Map<number, VersionContent>()
    for (const { id } of await this.log.listVersions(ROOM)) {
      if (removed.has(id)) continue
      const content = await rewriteForRemoval(await this.log.versionChain(ROOM, id), removed)
      if (content) rewritten.set(id, content)
    }
    expect(await this.log.removeVersions(ROOM, ids, rewritten)).toBe(ids.length)
    for (const id of ids) this.texts.delete(id)
    // The op since a removed latest version does not apply to the one before it: whole text next.
    const latest = (await this.log.listVersions(ROOM)).at(-1)
    this.tip =
      latest && this.tip && !removed.has(this.tip.id)
        ? { id: latest.id, opBytes: opBytesSinceCheckpoint(await this.log.versionChain(ROOM, latest.id)) }
        : null
  }

  /** Every kept version rebuilds to its real text. */
  async check(): Promise<void> {
    const list = await this.log.listVersions(ROOM)
    expect(list.map((v) => v.id)).toEqual([...this.texts.keys()])
    for (const { id } of list) {
      const chain = await this.log.versionChain(ROOM, id)
      expect(rebuildText(chain), `version ${id}`).toBe(this.texts.get(id))
    }
  }
}

describe('version chain', () => {
  it('composes deltas into one op, pairwise', () => {
    const ops: TextOp[] = [['ab'], [1, 'x'], [{ d: 1 }], [2, 'yz']]
    let text = ''
    for (const op of ops) text = apply(text, op)
    expect(apply('', composeAll(ops))).toBe(text)
    expect(apply('', opOfDeltas(ops.map(opToDelta).concat([[]])))).toBe('xbyz')
  })

  it('stores the first version whole, then ops until they outgrow the text', async () => {
    const history = new History()
    const gen = prng.create(1)
    for (let i = 0; i < 30; i++) await history.edit(gen, 3)
    const chain = await history.log.versionChain(ROOM, 30)
    expect('text' in chain[0].content).toBe(true)
    expect(opBytesSinceCheckpoint(chain)).toBeLessThanOrEqual(Buffer.byteLength(history.texts.get(30)!))
    const all = await Promise.all(
      (await history.log.listVersions(ROOM)).map((v) => history.log.versionChain(ROOM, v.id)),
    )
    expect(all[0]).toHaveLength(1)
    await history.check()
  })

  seededTest(
    'rebuilt texts equal the real ones after random removals',
    async (gen) => {
      const history = new History()
      for (let round = 0; round < 6; round++) {
        const versions = prng.uint32(gen, 5, 25)
        for (let i = 0; i < versions; i++)
          await history.edit(gen, prng.uint32(gen, 1, 8), prng.uint32(gen, 0, 19) > 0)
        await history.check()
        const ids = [...history.texts.keys()].filter(() => prng.uint32(gen, 0, 9) < 3)
        await history.remove(ids)
        await history.check()
        expect(
          await rebuildTextSliced(await history.log.versionChain(ROOM, [...history.texts.keys()].at(-1)!)),
        ).toBe([...history.texts.values()].at(-1))
      }
    },
    { seeds: seedRange(20) },
  )

  it('refuses an op on a version that is no longer the latest', async () => {
    const history = new History()
    const gen = prng.create(2)
    await history.edit(gen, 2)
    await history.edit(gen, 2)
    await expect(history.log.addVersion(ROOM, facts(10, 0), { op: ['x'], base: 1 })).rejects.toThrow(
      StaleVersionBaseError,
    )
    await expect(new MemoryVersionLog().addVersion(ROOM, facts(1, 1), { op: ['x'] })).rejects.toThrow(
      StaleVersionBaseError,
    )
  })

  it('refuses a removal planned on versions another instance has removed since', async () => {
    const history = new History()
    const gen = prng.create(3)
    history.text = 'x'.repeat(500)
    for (let i = 0; i < 4; i++) await history.edit(gen, 3)
    const chain4 = await history.log.versionChain(ROOM, 4)
    expect(chain4.map((v) => v.id)).toEqual([1, 2, 3, 4])
    // B plans to remove 3 (4's op then applies to 2); A removes 2 first.
    const planB = new Map([[4, (await rewriteForRemoval(chain4, new Set([3])))!]])
    await history.remove([2])
    await expect(history.log.removeVersions(ROOM, [3], planB)).rejects.toThrow(StaleVersionBaseError)
    await history.check()
    // Planned without 4's new content: refused too.
    await expect(history.log.removeVersions(ROOM, [3], new Map())).rejects.toThrow(StaleVersionBaseError)
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
