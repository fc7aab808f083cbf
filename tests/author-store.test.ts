/**
 * The author log's contract (AuthorStore), run against the memory, SQLite and PostgreSQL logs
 * constructed directly on their connection: a client id binds to the first identity that asks,
 * later asks get that key back, each identity keeps its latest name and its latest known colour,
 * rooms are apart, bindings survive reopening the file, and on PostgreSQL two pools binding the
 * same client ids at once agree on one winner each.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import type { AuthorIdentity, AuthorStore } from '../server/store/history-store.ts'
import { MemoryAuthorLog } from '../server/store/memory-author-log.ts'
import { PostgresAuthorLog } from '../server/store/postgres-author-log.ts'
import { SqliteAuthorLog } from '../server/store/sqlite-author-log.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { cleanupAfterEach, makeTempDir } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const pgSkip = await postgresSkipReason()
const schemas: string[] = []
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema)
})

/** A pool on `schema` (created with the log's tables), ended in teardown. */
async function postgresLog(schema: string): Promise<PostgresAuthorLog> {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 })
  cleanups.push(() => pool.end())
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`)
  const log = new PostgresAuthorLog(pool, schema)
  await log.migrate()
  return log
}

function sqliteFile(): string {
  const { dir, cleanup } = makeTempDir()
  cleanups.push(cleanup)
  return join(dir, 'authors.db')
}

function sqliteLog(path: string): SqliteAuthorLog {
  const db = new Database(path)
  cleanups.push(() => db.close())
  return new SqliteAuthorLog(db)
}

interface Backend {
  name: string
  skip: string | null
  open: () => Promise<AuthorStore>
}

const backends: Backend[] = [
  { name: 'memory', skip: null, open: async () => new MemoryAuthorLog() },
  { name: 'SQLite', skip: null, open: async () => sqliteLog(sqliteFile()) },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    open: () => {
      const schema = freshSchemaName()
      schemas.push(schema)
      return postgresLog(schema)
    },
  },
]

const ada: AuthorIdentity = { key: 'user:ada', name: 'Ada', color: '#ff0000' }
const bob: AuthorIdentity = { key: 'name:Bob', name: 'Bob', color: null }

describe.each(backends)('$name', ({ open, skip }) => {
  it.skipIf(skip)('binds a client id to the first identity and keeps it', async () => {
    const store = await open()
    expect(await store.bindClient('r', 1, ada)).toBe('user:ada')
    expect(await store.bindClient('r', 1, bob)).toBe('user:ada')
    expect(await store.bindClient('r', 1, ada)).toBe('user:ada')
    expect(await store.bindClient('r', 2, bob)).toBe('name:Bob')
    // A client id past 2^31 (Yjs ids are 32-bit unsigned) and one in another room.
    expect(await store.bindClient('r', 4_000_000_000, bob)).toBe('name:Bob')
    expect(await store.bindClient('q', 1, bob)).toBe('name:Bob')
    const { clients, identities } = await store.roomAuthors('r')
    expect([...clients].sort((a, b) => a[0] - b[0])).toEqual([
      [1, 'user:ada'],
      [2, 'name:Bob'],
      [4_000_000_000, 'name:Bob'],
    ])
    expect(identities.get('user:ada')).toEqual(ada)
    expect(identities.get('name:Bob')).toEqual(bob)
    expect((await store.roomAuthors('q')).clients).toEqual(new Map([[1, 'name:Bob']]))
    expect(await store.roomAuthors('empty')).toEqual({ clients: new Map(), identities: new Map() })
  })

  it.skipIf(skip)('keeps the latest name and the latest known colour', async () => {
    const store = await open()
    await store.bindClient('r', 1, ada)
    await store.bindClient('r', 2, { key: 'user:ada', name: 'Ada L.', color: null })
    expect((await store.roomAuthors('r')).identities.get('user:ada')).toEqual({
      key: 'user:ada',
      name: 'Ada L.',
      color: '#ff0000',
    })
    await store.bindClient('r', 2, { key: 'user:ada', name: 'Ada', color: '#00ff00' })
    expect((await store.roomAuthors('r')).identities.get('user:ada')?.color).toBe('#00ff00')
  })
})

describe('SQLite', () => {
  it('keeps bindings across reopening the file', async () => {
    const path = sqliteFile()
    const db = new Database(path)
    await new SqliteAuthorLog(db).bindClient('r', 7, ada)
    db.close()
    const again = sqliteLog(path)
    expect(await again.bindClient('r', 7, bob)).toBe('user:ada')
    expect((await again.roomAuthors('r')).identities.get('user:ada')?.name).toBe('Ada')
  })
})

describe('PostgreSQL, two instances', () => {
  it.skipIf(pgSkip)('agree on one identity per client id when both bind at once', async () => {
    const schema = freshSchemaName()
    schemas.push(schema)
    const [one, two] = [await postgresLog(schema), await postgresLog(schema)]
    const ids = Array.from({ length: 50 }, (_, i) => i + 1)
    const [fromOne, fromTwo] = await Promise.all([
      Promise.all(ids.map((id) => one.bindClient('r', id, ada))),
      Promise.all(ids.map((id) => two.bindClient('r', id, bob))),
    ])
    expect(fromOne).toEqual(fromTwo)
    const { clients } = await one.roomAuthors('r')
    expect(ids.map((id) => clients.get(id))).toEqual(fromOne)
  })
})
