/**
 * PostgreSQL compaction merges off the event loop: a room of several MB compacts in the store's
 * merge thread (never this one), timers keep firing while it merges, the result reads back whole,
 * and a merge thread that dies fails only that compaction (the log is kept; the next one works).
 */
import { threadId } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PostgresStore } from '../server/store/index.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { cleanupAfterEach, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const pgSkip = await postgresSkipReason()

async function openStore(): Promise<PostgresStore> {
  const schema = freshSchemaName()
  const store = new PostgresStore(TEST_DATABASE_URL, { schema })
  cleanups.push(() => dropSchema(schema))
  cleanups.push(() => store.close())
  await store.ready
  return store
}

/** Appends `count` updates of about `bytes` each to `room`; resolves with what the room holds. */
async function fillRoom(store: PostgresStore, room: string, count: number, bytes: number): Promise<string> {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  const lines = doc.getArray<string>('lines')
  for (let i = 0; i < count; i++) lines.push([`${i}:${'x'.repeat(bytes)}`])
  for (let i = 0; i < updates.length; i += 500) {
    await store.append(updates.slice(i, i + 500).map((update) => ({ room, update })))
  }
  return contentOf(doc)
}

/** A document's content, comparable across documents. */
function contentOf(doc: Y.Doc): string {
  return `${doc.getText('text').toString()}|${doc.getArray<string>('lines').toArray().join(',')}`
}

/** The content of `room` as loaded from `store`. */
async function storedContent(store: PostgresStore, room: string): Promise<string> {
  const stored = await store.load(room)
  const doc = new Y.Doc()
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot)
  for (const update of stored.updates) Y.applyUpdate(doc, update)
  return contentOf(doc)
}

describe.skipIf(pgSkip)('PostgreSQL compaction', () => {
  it('merges a room of several MB in the merge thread while this thread keeps running timers', async () => {
    const store = await openStore()
    const content = await fillRoom(store, 'big', 2_000, 3_000)
    expect((await store.load('big')).logBytes).toBeGreaterThan(5_000_000)
    let done = false
    const compaction = store.compact('big').finally(() => {
      done = true
    })
    // A timer polls while the merge runs: the merge is on another thread, so this loop turns.
    await waitFor(() => store.merger.running > 0, 'the merge to start in the merge thread')
    const ticksDuringMerge = { count: 0 }
    await waitFor(() => {
      if (store.merger.running > 0) ticksDuringMerge.count++
      return done || store.merger.running === 0
    }, 'the merge to finish')
    expect(ticksDuringMerge.count).toBeGreaterThan(0)
    const size = await compaction
    expect(size).toBeGreaterThan(5_000_000)
    expect(store.merger.merges).toBe(1)
    expect(store.merger.lastThreadId).not.toBeNull()
    expect(store.merger.lastThreadId).not.toBe(threadId)
    const after = await store.load('big')
    expect(after.updates).toHaveLength(0)
    expect(await storedContent(store, 'big')).toBe(content)
  })

  it('merges what a caller snapshot lacks (another instance) in the merge thread too', async () => {
    const store = await openStore()
    const mine = new Y.Doc()
    mine.getText('text').insert(0, 'mine;')
    await store.append([{ room: 'shared', update: Y.encodeStateAsUpdate(mine) }])
    const theirs = new Y.Doc()
    theirs.getText('text').insert(0, 'theirs;')
    await store.append([{ room: 'shared', update: Y.encodeStateAsUpdate(theirs) }])
    await store.compact('shared', Y.encodeStateAsUpdate(mine))
    expect(store.merger.lastThreadId).not.toBe(threadId)
    const content = await storedContent(store, 'shared')
    expect(content).toContain('mine;')
    expect(content).toContain('theirs;')
  })

  it('a merge thread that dies fails that compaction only: the log is kept and the next one works', async () => {
    const store = await openStore()
    const content = await fillRoom(store, 'crash', 1_000, 3_000)
    const compaction = store.compact('crash')
    await waitFor(() => store.merger.running > 0, 'the merge to start')
    await store.merger.crashForTest()
    await expect(compaction).rejects.toThrow(/merge thread exited/)
    expect((await store.load('crash')).updates.length).toBeGreaterThan(0)
    expect(await storedContent(store, 'crash')).toBe(content)
    await store.compact('crash')
    expect((await store.load('crash')).updates).toHaveLength(0)
    expect(await storedContent(store, 'crash')).toBe(content)
  })
})
