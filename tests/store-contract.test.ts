/**
 * The storage contract: one suite run against every DocStore (memory, SQLite plain and with its
 * background thread, PostgreSQL, and the tests' forwarding wrapper: helpers/store-backends.ts), then
 * what only a shared database must add: several instances appending to and compacting one room
 * without losing an update. The change log's contract is in store-changes.test.ts.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PostgresStore, type StoredRoom } from '../server/index.ts'
import { storeBackends } from './helpers/store-backends.ts'

const { backends, cleanups, pgSkip, freshSchema, openPostgres } = await storeBackends()

/** A writer that edits its own Y.Doc and hands out each edit as the update it made. */
function writer() {
  const doc = new Y.Doc()
  const text = doc.getText('text')
  const edit = (change: () => void): Uint8Array => {
    const updates: Uint8Array[] = []
    const capture = (update: Uint8Array) => updates.push(update)
    doc.on('update', capture)
    change()
    doc.off('update', capture)
    return updates[0]
  }
  return {
    doc,
    /** Types `word` at the end. */
    type: (word: string) => edit(() => text.insert(text.length, word)),
    /** Deletes the first `n` characters. */
    erase: (n: number) => edit(() => text.delete(0, n)),
  }
}

/** The text a room reads back as. */
function textOf(stored: StoredRoom): string {
  const doc = new Y.Doc()
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot)
  for (const update of stored.updates) Y.applyUpdate(doc, update)
  return doc.getText('text').toString()
}

/** Each word typed by its own client, so any update could be lost without the others hiding it. */
function words(prefix: string, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => writer().type(`${prefix}${i};`))
}

/** The set of words a text holds (words from independent clients interleave in any order). */
function wordSet(text: string): string[] {
  return text
    .split(';')
    .filter((word) => word !== '')
    .sort()
}

describe.each(backends)('$name', ({ open, skip }) => {
  it.skipIf(skip)('loads an unknown room as empty', async () => {
    const store = await open()
    expect(await store.load('nobody')).toEqual({ snapshot: null, updates: [], logBytes: 0 })
  })

  it.skipIf(skip)('reads appended updates back in order, per room', async () => {
    const store = await open()
    const a = writer()
    const first = a.type('one ')
    const second = a.type('two ')
    const other = writer().type('elsewhere')
    await store.append([
      { room: 'r', update: first },
      { room: 'q', update: other },
    ])
    await store.append([{ room: 'r', update: second }])
    const stored = await store.load('r')
    expect(stored.snapshot).toBeNull()
    expect(stored.updates.map((u) => Array.from(u))).toEqual([Array.from(first), Array.from(second)])
    expect(stored.logBytes).toBe(first.byteLength + second.byteLength)
    expect(textOf(stored)).toBe('one two ')
    expect(textOf(await store.load('q'))).toBe('elsewhere')
  })

  it.skipIf(skip)('makes a batch visible all at once to a concurrent load', async () => {
    const store = await open()
    const batch = words('w', 50).map((update) => ({ room: 'batch', update }))
    const appended = store.append(batch)
    const during = await store.load('batch')
    await appended
    expect([0, 50]).toContain(during.updates.length)
    expect((await store.load('batch')).updates).toHaveLength(50)
  })

  it.skipIf(skip)('keeps the content through a compaction with and without a snapshot', async () => {
    const store = await open()
    const a = writer()
    await store.append([{ room: 'c', update: a.type('hello ') }])
    await store.append([
      { room: 'c', update: a.type('world') },
      { room: 'c', update: a.erase(2) },
    ])
    const merged = await store.compact('c')
    let stored = await store.load('c')
    expect(stored.updates).toEqual([])
    expect(stored.snapshot?.byteLength).toBe(merged)
    expect(textOf(stored)).toBe('llo world')

    await store.append([{ room: 'c', update: a.type('!') }])
    const snapshot = Y.encodeStateAsUpdate(a.doc)
    expect(await store.compact('c', snapshot)).toBe(snapshot.byteLength)
    stored = await store.load('c')
    expect(stored.updates).toEqual([])
    expect(textOf(stored)).toBe('llo world!')
    // Compacting a room with nothing new in its log changes nothing.
    await store.compact('c')
    expect(textOf(await store.load('c'))).toBe('llo world!')
  })

  it.skipIf(skip)('keeps an append made while the store compacts', async () => {
    const store = await open()
    const before = words('b', 40)
    await store.append(before.map((update) => ({ room: 'race', update })))
    const after = words('a', 10)
    const compaction = store.compact('race')
    const appends = after.map((update) => store.append([{ room: 'race', update }]))
    await Promise.all([compaction, ...appends])
    const expected = wordSet(textOf({ snapshot: null, updates: [...before, ...after], logBytes: 0 }))
    expect(wordSet(textOf(await store.load('race')))).toEqual(expected)
    await store.compact('race')
    expect(wordSet(textOf(await store.load('race')))).toEqual(expected)
  })

  it.skipIf(skip)(
    'saves and loads a room policy: the mode, and revocations one row each, capped and pruned',
    async () => {
      const store = await open()
      const now = 1_700_000_000_000
      expect(await store.loadPolicy('p', now)).toBeNull()
      await store.saveMode('p', 'view')
      expect(await store.loadPolicy('p', now)).toEqual({ mode: 'view', revoked: [] })
      expect(await store.addRevocation('p', { jti: 'abc', until: now + 1000 }, 2, now)).toBe('added')
      expect(await store.addRevocation('p', { jti: 'def', until: now + 10 }, 2, now)).toBe('added')
      // Full: a new id is refused, an id already revoked is extended.
      expect(await store.addRevocation('p', { jti: 'ghi', until: now + 1000 }, 2, now)).toBe('full')
      expect(await store.addRevocation('p', { jti: 'abc', until: now + 2000 }, 2, now)).toBe('added')
      const loaded = await store.loadPolicy('p', now)
      expect(loaded?.mode).toBe('view')
      expect(loaded?.revoked.sort((x, y) => x.jti.localeCompare(y.jti))).toEqual([
        { jti: 'abc', until: now + 2000 },
        { jti: 'def', until: now + 10 },
      ])
      // A dead revocation is not loaded, and makes room for a new one.
      expect((await store.loadPolicy('p', now + 10))?.revoked).toEqual([{ jti: 'abc', until: now + 2000 }])
      expect(await store.addRevocation('p', { jti: 'ghi', until: now + 1000 }, 2, now + 10)).toBe('added')
      await store.saveMode('p', 'edit')
      expect((await store.loadPolicy('p', now + 10))?.mode).toBe('edit')
      expect((await store.loadPolicy('p', now + 10))?.revoked).toHaveLength(2)
      // Revocations alone make a policy; pruning drops the dead ones everywhere.
      await store.addRevocation('q', { jti: 'x', until: now + 5 }, 2, now)
      expect(await store.loadPolicy('q', now)).toEqual({
        mode: 'edit',
        revoked: [{ jti: 'x', until: now + 5 }],
      })
      expect(await store.pruneRevocations(now + 1500)).toBe(2)
      expect(await store.loadPolicy('q', now)).toBeNull()
    },
  )

  it.skipIf(skip)('answers a ping once ready', async () => {
    const store = await open()
    await expect(store.ping()).resolves.toBeUndefined()
  })

  it.skipIf(skip)('keeps set-aside entries apart, oldest first', async () => {
    const store = await open()
    expect(await store.setAsideEntries('s')).toEqual([])
    await store.setAside('s', [
      { data: new Uint8Array([1, 2, 3]), reason: 'bad struct' },
      { data: new Uint8Array([4]), reason: 'too deep' },
    ])
    await store.setAside('other', [{ data: new Uint8Array([9]), reason: 'elsewhere' }])
    const kept = await store.setAsideEntries('s')
    expect(kept.map(({ data, reason }) => [Array.from(data), reason])).toEqual([
      [[1, 2, 3], 'bad struct'],
      [[4], 'too deep'],
    ])
    expect((await store.load('s')).updates).toEqual([])
  })

  it.skipIf(skip)('closes, and closing again resolves', async () => {
    const store = await open()
    await store.append([{ room: 'x', update: writer().type('x') }])
    await store.close()
    await store.close()
  })
})

describe.skipIf(pgSkip)('PostgresStore shared by several instances', () => {
  const twoInstances = async () => {
    const schema = freshSchema()
    return Promise.all([openPostgres(schema), openPostgres(schema)])
  }

  it('creates its schema idempotently when instances start together', async () => {
    const [a, b] = await twoInstances()
    await Promise.all([a.append([{ room: 'r', update: writer().type('a;') }]), b.ping()])
    expect(textOf(await b.load('r'))).toBe('a;')
  })

  it('loses nothing when two instances append to one room concurrently', async () => {
    const [a, b] = await twoInstances()
    const fromA = words('a', 60)
    const fromB = words('b', 60)
    await Promise.all([
      ...fromA.map((update) => a.append([{ room: 'shared', update }])),
      ...fromB.map((update) => b.append([{ room: 'shared', update }])),
    ])
    const expected = wordSet(textOf({ snapshot: null, updates: [...fromA, ...fromB], logBytes: 0 }))
    expect(wordSet(textOf(await a.load('shared')))).toEqual(expected)
    expect((await b.load('shared')).updates).toHaveLength(120)
  })

  it('loses nothing when one instance compacts while the other appends', async () => {
    const [a, b] = await twoInstances()
    const all: Uint8Array[] = []
    for (let round = 0; round < 5; round++) {
      const fromA = words(`a${round}-`, 20)
      const fromB = words(`b${round}-`, 20)
      all.push(...fromA, ...fromB)
      await Promise.all([
        ...fromA.map((update) => a.append([{ room: 'busy', update }])),
        a.compact('busy'),
        ...fromB.map((update) => b.append([{ room: 'busy', update }])),
        b.compact('busy'),
      ])
    }
    const expected = wordSet(textOf({ snapshot: null, updates: all, logBytes: 0 }))
    expect(wordSet(textOf(await b.load('busy')))).toEqual(expected)
    await a.compact('busy')
    const stored = await b.load('busy')
    expect(stored.updates).toEqual([])
    expect(wordSet(textOf(stored))).toEqual(expected)
  })

  it("keeps another instance's updates when one compacts from a document that lacks them", async () => {
    const [a, b] = await twoInstances()
    const mine = writer()
    await a.append([{ room: 'doc', update: mine.type('mine;') }])
    const theirs = writer()
    await b.append([{ room: 'doc', update: theirs.type('theirs;') }])
    await b.compact('doc')
    await b.append([{ room: 'doc', update: theirs.type('later;') }])
    // a's document has only a's own edits, as the contract allows.
    await a.compact('doc', Y.encodeStateAsUpdate(mine.doc))
    const stored = await a.load('doc')
    expect(stored.updates).toEqual([])
    expect(wordSet(textOf(stored))).toEqual(['later', 'mine', 'theirs'])
  })

  it('rejects ready with a StoreOpenError when PostgreSQL is unreachable', async () => {
    const store = new PostgresStore('postgres://postgres@127.0.0.1:1/test')
    cleanups.push(() => store.close())
    await expect(store.ready).rejects.toMatchObject({
      name: 'StoreOpenError',
      message: expect.stringMatching(/not reachable .*ECONNREFUSED.*; start PostgreSQL/),
    })
  })
})
