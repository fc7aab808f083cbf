/**
 * Versions of a room (server/history/versioner.ts, history-hub.ts) on a change log and a clock the
 * test drives (helpers/fake-changes.ts): automatic versions on a pause and at the longest interval,
 * none without changes, named and restore versions, the last version on close, a restart that goes
 * on with ops (or a whole text when memory does not reach back), two instances making one version
 * of a pause, removals, thinning by the hub with its clock, and random runs whose every version
 * rebuilds to the text at its change (seeded).
 */
import * as prng from 'lib0/prng'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { HistoryHub, RoomHistoryNotAttachedError } from '../server/history/history-hub.ts'
import { rebuildText } from '../server/history/version-chain.ts'
import { Versioner } from '../server/history/versioner.ts'
import type { VersionStore } from '../server/store/history-store.ts'
import { MemoryVersionLog } from '../server/store/memory-version-log.ts'
import { insertOp } from '../shared/ot/op.ts'
import { randomOp } from '../shared/ot/random-op.ts'
import { FakeChanges, ManualClock } from './helpers/fake-changes.ts'
import { seededTest, seedRange } from './helpers/seed.ts'

const log = pino({ level: 'silent' })
const SECOND = 1_000
const MINUTE = 60 * SECOND
const DAY = 24 * 60 * MINUTE
const config = {
  historyQuietMs: 30 * SECOND,
  historyMaxIntervalMs: 5 * MINUTE,
  historyKeepAllDays: 7,
  historyHourlyDays: 30,
  historyThinIntervalMs: 60 * MINUTE,
}

/** A room's history under test: one change log, one store, versioners made on them. */
class Scene {
  readonly clock = new ManualClock()
  readonly store: VersionStore = new MemoryVersionLog()
  changes = new FakeChanges(this.clock.now)
  /** The text at every change id. */
  readonly texts = new Map<number, string>([[0, '']])

  versioner(): Versioner {
    return new Versioner({
      room: 'r',
      changes: this.changes,
      store: this.store,
      config,
      now: this.clock.now,
      timers: this.clock,
      log,
    })
  }

  type(text: string, author: string | null = 'Ann', at = this.changes.length): void {
    this.changes.commit(insertOp(at, text), author)
    this.texts.set(this.changes.latestId, this.changes.text())
  }

  /** Lets queued store work finish. */
  async settle(...versioners: Versioner[]): Promise<void> {
    for (let i = 0; i < 3; i++) for (const versioner of versioners) await versioner.settled()
  }

  /** Every version rebuilds to the text at its change id; returns the versions. */
  async check() {
    const versions = await this.store.listVersions('r')
    for (const version of versions) {
      const text = rebuildText(await this.store.versionChain('r', version.id))
      expect(text, `version ${version.id}`).toBe(this.texts.get(version.changeId))
      expect(version.length).toBe(text.length)
    }
    return versions
  }

  async contents() {
    const out: string[] = []
    for (const { id } of await this.store.listVersions('r')) {
      const chain = await this.store.versionChain('r', id)
      out.push('text' in chain.at(-1)!.content ? 'text' : 'op')
    }
    return out
  }
}

describe('versioner', () => {
  it('makes an automatic version once edits pause, with who made them', async () => {
    const scene = new Scene()
    const versioner = scene.versioner()
    await scene.settle(versioner)
    const heard: number[] = []
    versioner.onVersion((version) => heard.push(version.id))
    scene.type('Hello', 'Ann')
    scene.clock.advance(10 * SECOND)
    scene.type(' world', 'Bo')
    scene.type('!', 'Ann')
    scene.clock.advance(29 * SECOND)
    await scene.settle(versioner)
    expect(await versioner.list()).toEqual([])
    scene.clock.advance(1 * SECOND)
    await scene.settle(versioner)
    const [first] = await scene.check()
    expect(first).toMatchObject({
      id: 1,
      changeId: 3,
      kind: 'auto',
      authors: ['Ann', 'Bo'],
      length: 12,
      name: null,
    })
    expect(first.at).toBe(scene.clock.time)
    expect(heard).toEqual([1])
    scene.type(' Again.', 'Cy')
    scene.clock.advance(30 * SECOND)
    await scene.settle(versioner)
    expect((await scene.check()).map((v) => v.authors)).toEqual([['Ann', 'Bo'], ['Cy']])
    expect(await scene.contents()).toEqual(['text', 'op'])
    expect(await versioner.text(2)).toBe('Hello world! Again.')
    // Nothing changed: no version, however long.
    scene.clock.advance(DAY)
    await scene.settle(versioner)
    await versioner.close()
    expect(await versioner.list()).toHaveLength(2)
    expect(scene.clock.waiting).toBe(0)
  })

  it('makes one at the longest interval while editing goes on', async () => {
    const scene = new Scene()
    const versioner = scene.versioner()
    await scene.settle(versioner)
    for (let i = 0; i < 40; i++) {
      scene.type(`${i} `)
      scene.clock.advance(10 * SECOND)
      await scene.settle(versioner)
    }
    // The first change at 0 s, the 30th at 290 s: 5 minutes after the first, a version.
    expect((await scene.check()).map((v) => v.changeId)).toEqual([30])
    scene.clock.advance(30 * SECOND)
    await scene.settle(versioner)
    expect((await scene.check()).map((v) => v.changeId)).toEqual([30, 40])
  })

  it('makes named and restore versions of the current text, and a last one on close', async () => {
    const scene = new Scene()
    const versioner = scene.versioner()
    scene.type('abc'.repeat(100))
    const named = await versioner.name('Draft', 'Ann')
    expect(named).toMatchObject({
      id: 1,
      kind: 'named',
      name: 'Draft',
      by: 'Ann',
      changeId: 1,
      authors: ['Ann'],
    })
    expect(await versioner.name('Again', 'Bo')).toMatchObject({
      id: 2,
      kind: 'named',
      changeId: 1,
      authors: [],
    })
    scene.type('def', 'Bo')
    expect(await versioner.recordRestore(named, 'Cy')).toMatchObject({
      id: 3,
      kind: 'restore',
      name: 'Restored from "Draft"',
      restoredFrom: 1,
      by: 'Cy',
      authors: ['Bo'],
    })
    const auto = (await versioner.list())[0]
    expect((await versioner.recordRestore({ ...auto, name: null }, null)).name).toBe(
      'Restored from version 1',
    )
    scene.type('ghi')
    await versioner.close()
    expect((await scene.check()).map((v) => v.kind)).toEqual(['named', 'named', 'restore', 'restore', 'auto'])
    expect(await scene.contents()).toEqual(['text', 'op', 'op', 'op', 'op'])
  })

  it('goes on with ops after a restart, or a whole text when memory does not reach back', async () => {
    const scene = new Scene()
    let versioner = scene.versioner()
    scene.type('The first line.\n')
    await versioner.close()
    // Changes while no versioner listened (another process), then a restart: they come from memory.
    scene.type('More.\n')
    versioner = scene.versioner()
    await scene.settle(versioner)
    scene.type('Yet more.\n')
    scene.clock.advance(30 * SECOND)
    await scene.settle(versioner)
    await versioner.close()
    expect(await scene.contents()).toEqual(['text', 'op'])
    expect((await scene.check()).at(-1)!.changeId).toBe(3)
    // Changes while no versioner listened, then a restart whose memory does not reach back: whole text.
    scene.type('x')
    scene.changes.forget()
    scene.type('y')
    versioner = scene.versioner()
    await versioner.close()
    expect(await scene.contents()).toEqual(['text', 'op', 'text'])
  })

  it('two instances make one automatic version of a pause', async () => {
    const scene = new Scene()
    const a = scene.versioner()
    const b = scene.versioner()
    for (let round = 0; round < 5; round++) {
      scene.type(`round ${round}. `)
      scene.clock.advance(30 * SECOND)
      await scene.settle(a, b)
    }
    await b.name('Named on B', null)
    scene.type('after the name')
    scene.clock.advance(30 * SECOND)
    await scene.settle(a, b)
    const versions = await scene.check()
    expect(versions.map((v) => v.changeId)).toEqual([1, 2, 3, 4, 5, 5, 6])
  })

  it('removes a version, keeping the texts of the others', async () => {
    const scene = new Scene()
    const versioner = scene.versioner()
    scene.type('.'.repeat(200))
    for (let i = 0; i < 5; i++) {
      scene.type(`line ${i}\n`)
      scene.clock.advance(30 * SECOND)
      await scene.settle(versioner)
    }
    expect(await versioner.remove(1)).toBe(true)
    expect(await versioner.remove(1)).toBe(false)
    expect(await versioner.remove(3)).toBe(true)
    expect(await versioner.remove(5)).toBe(true)
    scene.type('after\n')
    scene.clock.advance(30 * SECOND)
    await scene.settle(versioner)
    const versions = await scene.check()
    expect(versions.map((v) => v.id)).toEqual([2, 4, 6])
    expect(await scene.contents()).toEqual(['text', 'op', 'text'])
    expect(await versioner.text(4)).toBe(scene.texts.get(versions[1].changeId))
    expect(await versioner.text(5)).toBeNull()
  })

  seededTest(
    'every version rebuilds to the text at its change (random edits, names, removals, two instances)',
    async (gen) => {
      const scene = new Scene()
      const versioners = [scene.versioner(), scene.versioner()]
      const authors = ['Ann', 'Bo', 'Cy']
      for (let step = 0; step < 300; step++) {
        const choice = prng.uint32(gen, 0, 99)
        if (choice < 70) {
          scene.changes.commit(randomOp(gen, scene.changes.text()), prng.oneOf(gen, authors))
          scene.texts.set(scene.changes.latestId, scene.changes.text())
        } else if (choice < 90) scene.clock.advance(prng.uint32(gen, 1, 60) * SECOND)
        else if (choice < 95) await prng.oneOf(gen, versioners).name(`n${step}`, null)
        else {
          const list = await versioners[0].list()
          if (list.length > 0) await prng.oneOf(gen, versioners).remove(prng.oneOf(gen, list).id)
        }
        await scene.settle(...versioners)
      }
      for (const versioner of versioners) await versioner.close()
      expect((await scene.check()).length).toBeGreaterThan(5)
    },
    { seeds: seedRange(10), timeout: 60_000 },
  )
})

describe('history hub', () => {
  it('thins on attach and on its timer with its clock, and detaches with a last version', async () => {
    const scene = new Scene()
    // 40 days of versions, one every 10 minutes, of one growing text.
    const start = scene.clock.time
    scene.clock.time -= 40 * DAY
    const writer = scene.versioner()
    while (scene.clock.time < start) {
      scene.type('x')
      scene.clock.advance(10 * MINUTE)
      await scene.settle(writer)
    }
    await writer.close()
    const before = (await scene.check()).length
    expect(before).toBeGreaterThan(5_700)
    const hub = new HistoryHub({ store: scene.store, config, log, now: scene.clock.now, timers: scene.clock })
    const room = { name: 'r', changes: scene.changes }
    const versioner = hub.attach(room)
    expect(hub.of(room)).toBe(versioner)
    expect(() => hub.of('other')).toThrow(RoomHistoryNotAttachedError)
    await hub.thinLoaded()
    const thinned = await scene.check()
    // 7 days of every version, 23 of hourly, 10 of daily (give or take the edges).
    expect(thinned.length).toBeGreaterThan(7 * 144 + 23 * 24)
    expect(thinned.length).toBeLessThan(7 * 144 + 23 * 24 + 14)
    scene.clock.advance(DAY)
    scene.clock.advance(60 * MINUTE)
    await hub.thinLoaded()
    expect((await scene.check()).length).toBeLessThan(thinned.length - 100)
    scene.type('last')
    await hub.detach(room)
    expect((await scene.check()).at(-1)!.changeId).toBe(scene.changes.latestId)
    expect(() => hub.of(room)).toThrow(RoomHistoryNotAttachedError)
    await hub.close()
    expect(scene.clock.waiting).toBe(0)
  }, 120_000)
})
