/**
 * Durability: what the server accepted survives a restart and a SIGKILL; nothing is relayed before
 * it is committed; a failing store keeps updates in memory, retries, and relays only once durable.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type Database from 'better-sqlite3'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createServer, SqliteStore, type StoredRoom } from '../server/index.ts'
import { SqliteBackground } from '../server/store/sqlite-background.ts'
import { FlakyStore } from './helpers/flaky-store.ts'
import {
  cleanupAfterEach,
  connectClient,
  makeTempDir,
  spawnServer,
  startServer,
  synced,
  type TestClient,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const track = (client: TestClient) => {
  cleanups.push(() => client.destroy())
  return client
}

/**
 * Reads the room's text from the database (snapshot + log), as a restart would. The server holds the
 * file's exclusive lock, so this goes through the store's own connection, which outside a (synchronous)
 * transaction sees exactly what is committed.
 */
function readStoredText(conn: Database.Database, room: string): string {
  const doc = new Y.Doc()
  const snapshot = conn.prepare('SELECT data FROM snapshots WHERE room = ?').get(room) as
    | { data: Buffer }
    | undefined
  if (snapshot) Y.applyUpdate(doc, snapshot.data)
  for (const row of conn.prepare('SELECT data FROM updates WHERE room = ? ORDER BY seq').all(room) as {
    data: Buffer
  }[]) {
    Y.applyUpdate(doc, row.data)
  }
  return doc.getText('text').toString()
}

/** The room's text from what a store returned for it. */
function storedText(stored: StoredRoom): string {
  const doc = new Y.Doc()
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot)
  for (const update of stored.updates) Y.applyUpdate(doc, update)
  return doc.getText('text').toString()
}

describe('durability', () => {
  it('keeps the content across a restart on the same database', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const first = await startServer({ db })
    const a = connectClient(first.url, 'persist')
    await synced(a)
    a.text.insert(0, 'survives restarts')
    await waitFor(
      async () => storedText(await first.server.store.load('persist')) === 'survives restarts',
      'the edit to be stored',
    )
    a.destroy()
    await first.close()

    const second = await startServer({ db })
    cleanups.push(() => second.close())
    const b = track(connectClient(second.url, 'persist'))
    await synced(b)
    await waitFor(() => b.text.toString() === 'survives restarts', 'the edit after restart')
  })

  it('merges a big room in the background thread while appends go on, and survives a crash of that thread', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'background.db')
    // Every compaction is a merge by the store (no document is small enough to encode in-thread).
    const server = await startServer({ db, compactAfterUpdates: 10, compactFromDocumentMaxBytes: 1 })
    cleanups.push(() => server.close())
    const store = server.server.store as SqliteStore
    const background = store.background!
    const a = track(connectClient(server.url, 'bg'))
    const b = track(connectClient(server.url, 'bg'))
    await Promise.all([synced(a), synced(b)])
    let expected = ''
    const type = async (words: number, label: string) => {
      for (let i = 0; i < words; i++) {
        const word = `${label}${i};`
        a.text.insert(a.text.length, word)
        expected += word
      }
      await waitFor(() => b.text.toString() === expected, `${label} edits to be relayed`)
    }
    await type(25, 'x')
    await waitFor(async () => (await store.load('bg')).snapshot !== null, 'a merged snapshot')
    expect(storedText(await store.load('bg'))).toBe(expected)

    await background.crashForTest()
    await type(25, 'y')
    // A new thread loads its module afresh (through tsx from source): slow on a loaded machine,
    // so these guards against a hang are longer than the default.
    await waitFor(() => background.generation === 2, 'a new background thread', 30_000)
    await waitFor(
      async () => {
        const stored = await store.load('bg')
        return stored.updates.length < 10 && storedText(stored) === expected
      },
      'a merge by the new thread, with every edit stored',
      30_000,
    )
    const checkpoint = await background.checkpoint()
    expect(checkpoint.checkpointed).toBe(checkpoint.log)
  })

  it('replaces a background thread that dies starting after a growing delay, not in a loop', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const entry = join(dir, 'failing-worker.mjs')
    writeFileSync(entry, "throw new Error('cannot start')\n")
    const background = new SqliteBackground(join(dir, 'x.db'), {
      checkpointIntervalMs: 1_000,
      entry: pathToFileURL(entry),
    })
    cleanups.push(() => background.close())
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    // Delays of 100, 200, 400 and 800 ms fit in 2 s: at most 5 starts (replaced at once, hundreds).
    expect(background.generation).toBeGreaterThan(1)
    expect(background.generation).toBeLessThanOrEqual(5)
    // A request meanwhile waits for the next thread, and fails with it.
    await expect(background.checkpoint()).rejects.toThrow('cannot start')
  })

  it('keeps what was appended while the background thread merged the log', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const store = new SqliteStore(join(dir, 'race.db'), { background: { checkpointIntervalMs: 50 } })
    cleanups.push(() => store.close())
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 200; i++) doc.getText('text').insert(i, 'a')
    await store.append(updates.splice(0).map((update) => ({ room: 'r', update })))
    const merging = store.compact('r')
    for (let i = 0; i < 50; i++) {
      doc.getText('text').insert(0, 'b')
      await store.append(updates.splice(0).map((update) => ({ room: 'r', update })))
    }
    await merging
    const stored = await store.load('r')
    expect(stored.snapshot).not.toBeNull()
    expect(stored.updates.length).toBeGreaterThan(0)
    expect(storedText(stored)).toBe(doc.getText('text').toString())
  })

  it('refuses a second server on the same database file', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'owned.db')
    const first = await startServer({ db })
    cleanups.push(() => first.close())
    expect(() => createServer({ db, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) })).toThrow(
      /database is locked/,
    )
    // Once the first has stopped, the file is free.
    await first.close()
    const third = await startServer({ db })
    await third.close()
  })

  it('commits an update before relaying it: whatever a peer received is already in the file', async () => {
    // A store that takes its time to commit, so relaying before the commit could not go unnoticed.
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'slow.db')
    const sqlite = new SqliteStore(db)
    const store = new FlakyStore(sqlite)
    store.delayMs = 15
    const server = await startServer({ store, compactAfterUpdates: 25 })
    cleanups.push(() => server.close())
    const writer = track(connectClient(server.url, 'ordering'))
    const reader = track(connectClient(server.url, 'ordering'))
    await Promise.all([synced(writer), synced(reader)])
    const violations: string[] = []
    reader.doc.on('update', (_update: Uint8Array, origin: unknown) => {
      if (origin !== reader.provider) return
      const seen = reader.text.toString()
      const stored = readStoredText(sqlite.db, 'ordering')
      if (stored.length < seen.length)
        violations.push(`peer saw ${seen.length} chars, file had ${stored.length}`)
    })
    for (let i = 0; i < 100; i++) {
      writer.text.insert(writer.text.length, String(i % 10))
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    await waitFor(() => reader.text.length === 100, 'the reader to receive 100 edits')
    expect(violations).toEqual([])
  })

  it('loses nothing a peer has seen when the process is killed with SIGKILL', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const child = await spawnServer(db)
    cleanups.push(child.stop)
    const writer = track(connectClient(`ws://127.0.0.1:${child.port}`, 'crash'))
    const witness = track(connectClient(`ws://127.0.0.1:${child.port}`, 'crash'))
    await Promise.all([synced(writer), synced(witness)])
    const N = 200
    for (let i = 0; i < N; i++) {
      writer.text.insert(writer.text.length, `${i};`)
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 1))
    }
    const expected = writer.text.toString()
    await waitFor(() => witness.text.toString() === expected, 'the witness to receive all N edits')
    child.process.kill('SIGKILL')
    await new Promise((resolve) => child.process.once('exit', resolve))
    writer.provider.disconnect()
    witness.provider.disconnect()

    const restarted = await startServer({ db })
    cleanups.push(() => restarted.close())
    const reader = track(connectClient(restarted.url, 'crash'))
    await synced(reader)
    await waitFor(() => reader.text.toString() === expected, 'all N edits after SIGKILL and restart')
    expect(reader.text.toString().split(';').length - 1).toBe(N)
  })

  it('keeps updates in memory while the store fails, retries, and relays only once committed', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const store = new FlakyStore(new SqliteStore(join(dir, 'flaky.db')))
    const server = await startServer({ store, storeRetryMinMs: 20, storeRetryMaxMs: 50 })
    const port = server.port
    cleanups.push(() => server.close())
    const a = track(connectClient(server.url, 'flaky'))
    const b = track(connectClient(server.url, 'flaky'))
    await Promise.all([synced(a), synced(b)])
    store.failing = true
    a.text.insert(0, 'held back')
    await waitFor(() => store.failedAttempts >= 3, 'several failed append attempts')
    expect(b.text.toString()).toBe('')
    const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
    expect(health.status).toBe('degraded')
    store.failing = false
    await waitFor(
      () => b.text.toString() === 'held back',
      'the update to be relayed after the store recovers',
    )
    expect(store.appended.map((e) => e.room)).toContain('flaky')
  })
})
