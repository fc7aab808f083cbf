/**
 * The change log's contract, run against every DocStore: each appended update is a change numbered
 * per room from 1 in the transaction that stores it; the ids survive reopening and compaction; reads
 * page through them with the room's bounds; pruning keeps the last `count` and everything younger
 * than `ms`; each change keeps its update, read when asked, through compactions; a table from
 * before the updates were kept gains the column (its rows read null); and, on a shared PostgreSQL,
 * two instances appending to one room get ids in commit order.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { type DocStore, type LogEntry, SqliteStore } from '../server/index.ts'
import { TEST_DATABASE_URL } from './helpers/postgres.ts'
import { makeTempDir } from './helpers/relay.ts'
import { storeBackends } from './helpers/store-backends.ts'

const { backends, cleanups, pgSkip, freshSchema, openPostgres } = await storeBackends()

/** The updates `room`'s changes keep, as byte arrays (null: not kept), oldest first. */
async function keptUpdates(store: DocStore, room: string, after = 0): Promise<Array<number[] | null>> {
  const { changes } = await store.changesSince(room, after, 1_000, { updates: true })
  return changes.map((change) => (change.update ? Array.from(change.update) : null))
}

/** A valid update typing `word` (its own client, so compactions merge every one). */
function typed(word: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, word)
  return Y.encodeStateAsUpdate(doc)
}

/** One entry per room named, each typing its room's name. */
function entries(...rooms: string[]): LogEntry[] {
  return rooms.map((room) => ({ room, update: typed(room) }))
}

/** An entry of `room` committed at `at`. */
function at(room: string, time: number): LogEntry {
  return { room, update: typed(room), change: { at: time, author: null, delta: null } }
}

/** The ids `room` keeps, oldest first. */
async function keptIds(store: DocStore, room: string): Promise<number[]> {
  return (await store.changesSince(room, 0, 1_000_000)).changes.map((change) => change.id)
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe.each(backends)('$name', ({ open, reopen, skip }) => {
  it.skipIf(skip)('numbers changes from 1 per room, consecutively within a batch', async () => {
    const store = await open()
    expect(await store.append(entries('r', 'q', 'r'))).toEqual([1, 1, 2])
    expect(await store.append(entries('r'))).toEqual([3])
    expect(await store.append(entries('q', 'q', 'p'))).toEqual([2, 3, 1])
    expect(await store.append([])).toEqual([])
    expect(await keptIds(store, 'r')).toEqual([1, 2, 3])
    expect(await keptIds(store, 'q')).toEqual([1, 2, 3])
    expect(await keptIds(store, 'p')).toEqual([1])
  })

  it.skipIf(skip)('keeps when, by whom and what; an entry without a change at the store clock', async () => {
    const store = await open()
    const before = Date.now()
    await store.append([
      { room: 'w', update: typed('a'), change: { at: 1_000, author: 'Ada', delta: '[{"insert":"a"}]' } },
      { room: 'w', update: typed('b') },
    ])
    const after = Date.now()
    const read = await store.changesSince('w', 0, 10)
    expect(read.changes[0]).toEqual({ id: 1, at: 1_000, author: 'Ada', delta: '[{"insert":"a"}]' })
    expect(read.changes[1]).toMatchObject({ id: 2, author: null, delta: null })
    expect(read.changes[1].at).toBeGreaterThanOrEqual(before)
    expect(read.changes[1].at).toBeLessThanOrEqual(after)
    expect(read).toMatchObject({ oldest: 1, latest: 2, latestAt: read.changes[1].at })
  })

  it.skipIf(skip)(
    'reads a page after an id, with the room bounds; limit 0 reads only the bounds',
    async () => {
      const store = await open()
      expect(await store.changesSince('none', 0, 10)).toEqual({
        changes: [],
        oldest: null,
        latest: 0,
        latestAt: null,
      })
      for (let i = 1; i <= 10; i++) await store.append([at('p', 1_000 * i)])
      const page = await store.changesSince('p', 3, 4)
      expect(page.changes.map((change) => [change.id, change.at])).toEqual([
        [4, 4_000],
        [5, 5_000],
        [6, 6_000],
        [7, 7_000],
      ])
      expect(page).toMatchObject({ oldest: 1, latest: 10, latestAt: 10_000 })
      expect(await store.changesSince('p', 0, 0)).toEqual({
        changes: [],
        oldest: 1,
        latest: 10,
        latestAt: 10_000,
      })
      expect((await store.changesSince('p', 8, 100)).changes.map((change) => change.id)).toEqual([9, 10])
      expect((await store.changesSince('p', 10, 100)).changes).toEqual([])
      expect((await store.changesSince('p', 99, 100)).changes).toEqual([])
    },
  )

  it.skipIf(skip)('leaves the changes alone when it compacts, with and without a snapshot', async () => {
    const store = await open()
    const doc = new Y.Doc()
    for (let i = 0; i < 5; i++) {
      const update = typed(`w${i}`)
      Y.applyUpdate(doc, update)
      await store.append([{ room: 'c', update, change: { at: Date.now(), author: 'Ada', delta: `[${i}]` } }])
    }
    const before = await store.changesSince('c', 0, 100)
    await store.compact('c')
    expect(await store.changesSince('c', 0, 100)).toEqual(before)
    await store.compact('c', Y.encodeStateAsUpdate(doc))
    expect(await store.changesSince('c', 0, 100)).toEqual(before)
    expect(await store.append(entries('c'))).toEqual([6])
  })

  it.skipIf(skip)('prunes what is neither among the last `count` nor younger than `ms`', async () => {
    const store = await open()
    for (let i = 1; i <= 10; i++) await store.append([at('old', 1_000 * i)])
    const now = 10_000
    // Younger than now - 4,500: ids 6-10, more than the last 2.
    expect(await store.pruneChanges('old', { count: 2, ms: 4_500 }, now)).toBe(5)
    expect(await keptIds(store, 'old')).toEqual(range(6, 10))
    // The last 4 are more than those younger than now - 0.
    expect(await store.pruneChanges('old', { count: 4, ms: 0 }, now)).toBe(1)
    expect(await keptIds(store, 'old')).toEqual(range(7, 10))
    expect(await store.pruneChanges('old', { count: 4, ms: 0 }, now)).toBe(0)
    // The latest change stays whatever the retention, and the numbering goes on from it.
    expect(await store.pruneChanges('old', { count: 0, ms: 0 }, now)).toBe(3)
    expect(await store.changesSince('old', 0, 10)).toMatchObject({ oldest: 10, latest: 10, latestAt: 10_000 })
    expect(await store.append(entries('old'))).toEqual([11])
    expect(await store.pruneChanges('nobody', { count: 1, ms: 0 }, now)).toBe(0)
  })

  it.skipIf(skip)('keeps what it keeps contiguous when the clock went back', async () => {
    const store = await open()
    // Change 2 is young; 3 and 4 carry older times (another instance's clock).
    await store.append([
      at('skew', 1_000),
      at('skew', 9_000),
      at('skew', 2_000),
      at('skew', 3_000),
      at('skew', 4_000),
    ])
    expect(await store.pruneChanges('skew', { count: 1, ms: 5_000 }, 10_000)).toBe(1)
    expect(await keptIds(store, 'skew')).toEqual([2, 3, 4, 5])
  })

  it.skipIf(skip)('prunes to the retention it was opened with when it compacts', async () => {
    const store = await open({ changeRetention: { count: 2, ms: 60_000 } })
    const long = Date.now() - 3_600_000
    for (let i = 0; i < 5; i++) await store.append([at('k', long + i)])
    await store.append(entries('k', 'k'))
    await store.compact('k')
    // The last two, and the two younger than a minute are the same: 6 and 7.
    expect(await keptIds(store, 'k')).toEqual([6, 7])
    await store.append([at('k', long)])
    await store.compact('k')
    expect(await keptIds(store, 'k')).toEqual([6, 7, 8])
  })

  it.skipIf(skip)('sets a delta only where none is stored', async () => {
    const store = await open()
    await store.append([
      { room: 'd', update: typed('a'), change: { at: 1, author: null, delta: '"kept"' } },
      { room: 'd', update: typed('b'), change: { at: 2, author: 'Bo', delta: null } },
    ])
    await store.setChangeDelta('d', 1, '"other"')
    await store.setChangeDelta('d', 2, '"filled"')
    await store.setChangeDelta('d', 2, '"again"')
    await store.setChangeDelta('d', 3, '"nothing"')
    await store.setChangeDelta('elsewhere', 1, '"nothing"')
    const { changes } = await store.changesSince('d', 0, 10)
    expect(changes.map((change) => [change.id, change.author, change.delta])).toEqual([
      [1, null, '"kept"'],
      [2, 'Bo', '"filled"'],
    ])
    expect((await store.changesSince('elsewhere', 0, 10)).latest).toBe(0)
  })

  it.skipIf(skip)('keeps each change’s update, read when asked, through compactions', async () => {
    const store = await open()
    // One past a line of PostgreSQL's base64 (76 characters).
    const words = ['one', 'two', 'three '.repeat(100), 'four']
    const updates = words.map(typed)
    await store.append([
      { room: 'u', update: updates[0] },
      { room: 'other', update: updates[1] },
      { room: 'u', update: updates[2], change: { at: 5, author: 'Ada', delta: null } },
    ])
    await store.append([{ room: 'u', update: updates[3] }])
    const expected = [0, 2, 3].map((i) => Array.from(updates[i]))
    expect(await keptUpdates(store, 'u')).toEqual(expected)
    expect(await keptUpdates(store, 'u', 1)).toEqual(expected.slice(1))
    expect(await keptUpdates(store, 'other')).toEqual([Array.from(updates[1])])
    // Read without asking: no update at all.
    for (const change of (await store.changesSince('u', 0, 10)).changes)
      expect(change).not.toHaveProperty('update')
    await store.compact('u')
    expect(await keptUpdates(store, 'u')).toEqual(expected)
    const page = await store.changesSince('u', 1, 1, { updates: true })
    expect(page.changes.map(({ id, author }) => [id, author])).toEqual([[2, 'Ada']])
  })

  it.skipIf(skip)('assigns no id in an append that fails; the next one goes on densely', async () => {
    const store = await open()
    await store.append(entries('f'))
    const broken = { room: 'f', update: null as unknown as Uint8Array }
    await expect(store.append([...entries('f', 'g'), broken])).rejects.toThrow()
    expect(await store.append(entries('g', 'f'))).toEqual([1, 2])
    expect((await store.load('f')).updates).toHaveLength(2)
    expect(await keptIds(store, 'f')).toEqual([1, 2])
  })

  it.skipIf(skip || !reopen)('goes on numbering where it was after reopening', async () => {
    const first = await open()
    await first.append(entries('s', 's', 't'))
    await first.compact('s')
    const before = await first.changesSince('s', 0, 10)
    const second = await reopen!(first)
    expect(await second.changesSince('s', 0, 10)).toEqual(before)
    expect(await second.append(entries('s', 't'))).toEqual([3, 2])
  })
})

describe('a change log from before updates were kept', () => {
  const OLD_TABLE = `(room TEXT NOT NULL, id INTEGER NOT NULL, at INTEGER NOT NULL, author TEXT, delta TEXT,
    PRIMARY KEY (room, id))`

  it('SqliteStore adds the column: old rows read null, new ones their update', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'old.db')
    const old = new Database(path)
    old.exec(`CREATE TABLE changes ${OLD_TABLE} WITHOUT ROWID`)
    old.prepare('INSERT INTO changes VALUES (?, 1, 10, ?, ?)').run('r', 'Ada', '[{"insert":"a"}]')
    old.close()
    const store = new SqliteStore(path)
    cleanups.push(() => store.close())
    const update = typed('b')
    expect(await store.append([{ room: 'r', update }])).toEqual([2])
    expect(await keptUpdates(store, 'r')).toEqual([null, Array.from(update)])
    expect((await store.changesSince('r', 0, 1)).changes).toEqual([
      { id: 1, at: 10, author: 'Ada', delta: '[{"insert":"a"}]' },
    ])
  })

  it.skipIf(pgSkip)('PostgresStore adds the column: old rows read null, new ones their update', async () => {
    const schema = freshSchema()
    const quoted = pg.escapeIdentifier(schema)
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await client.connect()
    try {
      await client.query(`
        CREATE SCHEMA ${quoted};
        CREATE TABLE ${quoted}.changes (room text NOT NULL, id bigint NOT NULL, at bigint NOT NULL,
          author text, delta text, PRIMARY KEY (room, id));
        CREATE TABLE ${quoted}.room_changes (room text PRIMARY KEY, latest bigint NOT NULL, latest_at bigint NOT NULL);
        INSERT INTO ${quoted}.changes VALUES ('r', 1, 10, 'Ada', '[{"insert":"a"}]');
        INSERT INTO ${quoted}.room_changes VALUES ('r', 1, 10);
      `)
    } finally {
      await client.end()
    }
    const store = await openPostgres(schema)
    const update = typed('b')
    expect(await store.append([{ room: 'r', update }])).toEqual([2])
    expect(await keptUpdates(store, 'r')).toEqual([null, Array.from(update)])
    // A second instance opening the migrated schema leaves it be.
    const again = await openPostgres(schema)
    expect(await keptUpdates(again, 'r')).toEqual([null, Array.from(update)])
  })
})

describe.skipIf(pgSkip)('PostgresStore: change ids across instances', () => {
  it('numbers two instances appending to one room densely, in commit order', async () => {
    const schema = freshSchema()
    const [a, b] = await Promise.all([openPostgres(schema), openPostgres(schema)])
    /** Appends `rounds` times, one after the other (so its own ids must increase); every third a batch of two. */
    const appendInTurn = async (store: DocStore, rounds: number) => {
      const ids: number[] = []
      for (let i = 0; i < rounds; i++)
        ids.push(...(await store.append(entries(...(i % 3 ? ['one'] : ['one', 'one'])))))
      return ids
    }
    const [fromA, fromB] = await Promise.all([appendInTurn(a, 40), appendInTurn(b, 40)])
    for (const ids of [fromA, fromB]) expect(ids).toEqual([...ids].sort((x, y) => x - y))
    const all = [...fromA, ...fromB].sort((x, y) => x - y)
    expect(all).toEqual(range(1, all.length))
    expect(await keptIds(b, 'one')).toEqual(all)
    expect((await a.load('one')).updates).toHaveLength(all.length)
  })

  it('does not deadlock on batches naming the same rooms in opposite orders', async () => {
    const schema = freshSchema()
    const [a, b] = await Promise.all([openPostgres(schema), openPostgres(schema)])
    const appends = range(1, 30).flatMap(() => [a.append(entries('x', 'y')), b.append(entries('y', 'x'))])
    const ids = await Promise.all(appends)
    const perRoom = (i: number) => ids.map((pair, k) => pair[k % 2 === 0 ? i : 1 - i]).sort((x, y) => x - y)
    expect(perRoom(0)).toEqual(range(1, 60))
    expect(perRoom(1)).toEqual(range(1, 60))
  })
})
