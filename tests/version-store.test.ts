/**
 * The VersionStore contract on every backend (memory, SQLite file, PostgreSQL when reachable; CI
 * runs it): ids per room never reused, an automatic version at a change the latest reaches not made,
 * chains from the latest checkpoint, texts with NUL and lone surrogates kept, random removals with
 * their rewrites (seeded), stale plans refused, data kept across a reopen, and two PostgreSQL
 * instances adding at once.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { rebuildText, rewriteForRemoval } from '../server/history/version-chain.ts'
import type { VersionStore } from '../server/store/history-store.ts'
import { MemoryVersionLog } from '../server/store/memory-version-log.ts'
import { PostgresVersionLog } from '../server/store/postgres-version-log.ts'
import { SqliteVersionLog } from '../server/store/sqlite-version-log.ts'
import { StaleVersionBaseError } from '../server/store/version-checks.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { cleanupAfterEach, makeTempDir } from './helpers/relay.ts'
import { seededTest, seedRange } from './helpers/seed.ts'
import { autoVersion, VersionHistory } from './helpers/version-history.ts'

const cleanups = cleanupAfterEach()
const pgSkip = await postgresSkipReason()
const schemas: string[] = []
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema)
})

interface Backend {
  name: string
  skip: string | null
  /** A fresh store, and how to open another on the same data (null: nothing is kept). */
  open(): Promise<{ store: VersionStore; again: (() => Promise<VersionStore>) | null }>
}

async function postgresLog(schema: string): Promise<PostgresVersionLog> {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 })
  cleanups.push(() => pool.end())
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`)
  const log = new PostgresVersionLog(pool, schema)
  await log.migrate()
  return log
}

const backends: Backend[] = [
  { name: 'memory', skip: null, open: async () => ({ store: new MemoryVersionLog(), again: null }) },
  {
    name: 'SQLite',
    skip: null,
    open: async () => {
      const { dir, cleanup } = makeTempDir()
      cleanups.push(cleanup)
      const file = join(dir, 'versions.db')
      let db = new Database(file)
      cleanups.push(() => db.close())
      const again = async () => {
        db.close()
        db = new Database(file)
        return new SqliteVersionLog(db)
      }
      return { store: new SqliteVersionLog(db), again }
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    open: async () => {
      const schema = freshSchemaName()
      schemas.push(schema)
      return { store: await postgresLog(schema), again: () => postgresLog(schema) }
    },
  },
]

for (const backend of backends) {
  describe.skipIf(backend.skip !== null)(`version store: ${backend.name}`, () => {
    it('numbers versions per room and never gives an id twice', async () => {
      const { store } = await backend.open()
      await expect(store.addVersion('a', autoVersion(1, 1), { op: ['x'] })).rejects.toThrow(
        StaleVersionBaseError,
      )
      expect(await store.addVersion('a', autoVersion(1, 1), { text: 'x' })).toMatchObject({
        id: 1,
        changeId: 1,
      })
      expect(await store.addVersion('b', autoVersion(1, 1), { text: 'y' })).toMatchObject({ id: 1 })
      const named = {
        ...autoVersion(1, 1),
        kind: 'named' as const,
        name: 'Draft "one"',
        by: 'Ann',
        authors: ['Ann', 'Bo'],
      }
      expect(await store.addVersion('a', named, { op: [], base: 1 })).toEqual({ ...named, id: 2 })
      expect(await store.removeVersions('a', [2], new Map())).toBe(1)
      const restore = { ...named, kind: 'restore' as const, restoredFrom: 1, changeId: 2, length: 2 }
      expect(await store.addVersion('a', restore, { op: [1, 'z'], base: 1 })).toMatchObject({ id: 3 })
      expect(await store.listVersions('a')).toEqual([
        { ...autoVersion(1, 1), id: 1 },
        { ...restore, id: 3 },
      ])
      expect(await store.listVersions('nobody')).toEqual([])
      expect(await store.versionChain('a', 2)).toEqual([])
      expect(rebuildText(await store.versionChain('a', 3))).toBe('xz')
    })

    it('does not make an automatic version at a change the latest already reaches', async () => {
      const { store } = await backend.open()
      expect(await store.addVersion('a', autoVersion(5, 1), { text: 'x' })).not.toBeNull()
      expect(await store.addVersion('a', autoVersion(5, 1), { text: 'x' })).toBeNull()
      expect(await store.addVersion('a', autoVersion(4, 1), { text: 'x' })).toBeNull()
      await expect(store.addVersion('a', autoVersion(6, 1), { op: ['y'], base: 7 })).rejects.toThrow(
        StaleVersionBaseError,
      )
      expect(await store.addVersion('a', autoVersion(6, 2), { op: ['y'], base: 1 })).toMatchObject({ id: 2 })
    })

    it('keeps any text: NUL, lone surrogates, astral characters', async () => {
      const { store } = await backend.open()
      const text = 'a\u0000b\ud800c\udfff😀\n"\\'
      await store.addVersion('a', autoVersion(1, text.length), { text })
      await store.addVersion('a', autoVersion(2, text.length + 2), { op: [3, '\u0000\ud83d'], base: 1 })
      expect(rebuildText(await store.versionChain('a', 2))).toBe('a\u0000b\u0000\ud83d\ud800c\udfff😀\n"\\')
    })

    seededTest(
      'rebuilt texts equal the real ones after random removals',
      async (gen) => {
        const { store } = await backend.open()
        await new VersionHistory(store).randomRounds(gen, 3)
      },
      { seeds: seedRange(3), timeout: 60_000 },
    )

    it('refuses a removal planned on versions removed since', async () => {
      const { store } = await backend.open()
      const history = new VersionHistory(store)
      history.text = 'x'.repeat(500)
      const gen = (await import('lib0/prng')).create(3)
      for (let i = 0; i < 4; i++) await history.edit(gen, 3)
      const planB = new Map([[4, (await rewriteForRemoval(await store.versionChain('r', 4), new Set([3])))!]])
      await history.remove([2])
      await expect(store.removeVersions('r', [3], planB)).rejects.toThrow(StaleVersionBaseError)
      await history.check()
    })

    it.skipIf(backend.name === 'memory')('keeps versions across a reopen', async () => {
      const { store, again } = await backend.open()
      const history = new VersionHistory(store)
      const gen = (await import('lib0/prng')).create(4)
      for (let i = 0; i < 10; i++) await history.edit(gen, 3)
      const before = await store.listVersions('r')
      const reopened = await again!()
      expect(await reopened.listVersions('r')).toEqual(before)
      for (const [id, text] of history.texts)
        expect(rebuildText(await reopened.versionChain('r', id))).toBe(text)
      await reopened.removeVersions('r', [10], new Map())
      expect(await reopened.addVersion('r', autoVersion(1_000, 1), { text: 'x' })).toMatchObject({ id: 11 })
    })
  })
}

describe.skipIf(pgSkip !== null)('version store: two PostgreSQL instances', () => {
  it('make one automatic version of a change and distinct ids for named ones', async () => {
    const schema = freshSchemaName()
    schemas.push(schema)
    const a = await postgresLog(schema)
    const b = await postgresLog(schema)
    await a.addVersion('r', autoVersion(1, 1), { text: 'x' })
    for (let changeId = 2; changeId < 12; changeId++) {
      const made = await Promise.all(
        [a, b].map((log) => log.addVersion('r', autoVersion(changeId, 1), { text: 'x' })),
      )
      expect(made.filter((version) => version !== null)).toHaveLength(1)
    }
    const named = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).addVersion(
          'r',
          { ...autoVersion(11, 1), kind: 'named', name: `n${i}` },
          { text: 'x' },
        ),
      ),
    )
    expect(named.map((version) => version!.id).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 20 }, (_, i) => 12 + i),
    )
  })
})
