/**
 * Room lifecycle: one shared load for concurrent cold connections, frames buffered (not dropped)
 * while a room loads, no reply before the load finishes, unloading of empty rooms, and graceful
 * shutdown (1012 to clients, everything flushed, exit 0).
 */
import { join } from 'node:path'
import * as encoding from 'lib0/encoding'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { type DocStore, SqliteStore, type StoredRoom } from '../server/index.ts'
import { CloseCode, MessageType } from '../shared/protocol/index.ts'
import { ForwardingStore } from './helpers/forwarding-store.ts'
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

/** A real SQLite store whose loads wait until `release()` (to hold a room in the loading state). */
class GatedStore extends ForwardingStore {
  loads = 0
  loaded = false
  private gate: Promise<void>
  release!: () => void
  constructor(inner: DocStore) {
    super(inner)
    this.gate = new Promise((resolve) => {
      this.release = resolve
    })
  }
  override async load(room: string): Promise<StoredRoom> {
    this.loads++
    await this.gate
    const stored = await this.inner.load(room)
    this.loaded = true
    return stored
  }
}

function updateFrame(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.sync)
  syncProtocol.writeUpdate(encoder, update)
  return encoding.toUint8Array(encoder)
}

describe('room lifecycle', () => {
  it('shares one load among concurrent cold connections and buffers their frames until it is done', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const store = new GatedStore(new SqliteStore(join(dir, 'gated.db')))
    const server = await startServer({ store })
    cleanups.push(() => server.close())

    // Raw sockets send updates the moment they open, while the room is still loading.
    const texts = ['alpha ', 'beta ', 'gamma ']
    const repliedBeforeLoad: boolean[] = []
    const sockets = texts.map((text) => {
      const doc = new Y.Doc()
      doc.getText('text').insert(0, text)
      const ws = new WebSocket(`${server.url}/cold`)
      ws.on('open', () => ws.send(updateFrame(Y.encodeStateAsUpdate(doc))))
      ws.on('message', () => repliedBeforeLoad.push(!store.loaded))
      cleanups.push(() => ws.close())
      return ws
    })
    await waitFor(() => sockets.every((ws) => ws.readyState === WebSocket.OPEN), 'sockets to open')
    await waitFor(() => store.loads >= 1, 'the load to start')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(repliedBeforeLoad).toEqual([])
    store.release()

    const reader = connectClient(server.url, 'cold')
    cleanups.push(() => reader.destroy())
    await synced(reader)
    await waitFor(
      () => texts.every((t) => reader.text.toString().includes(t)),
      'all buffered updates to apply',
    )
    expect(store.loads).toBe(1)
    expect(repliedBeforeLoad.length).toBeGreaterThan(0)
    expect(repliedBeforeLoad.every((before) => !before)).toBe(true)
  })

  it('unloads a room after its last client leaves and reloads it intact', async () => {
    const server = await startServer({ roomUnloadDelayMs: 50 })
    cleanups.push(() => server.close())
    const a = connectClient(server.url, 'transient')
    await synced(a)
    a.text.insert(0, 'kept')
    await waitFor(() => server.server.rooms.size === 1, 'the room to be loaded')
    a.destroy()
    await waitFor(() => server.server.rooms.size === 0, 'the room to unload')
    const b: TestClient = connectClient(server.url, 'transient')
    cleanups.push(() => b.destroy())
    await synced(b)
    await waitFor(() => b.text.toString() === 'kept', 'the reloaded room to hold the text')
  })

  it('on SIGTERM closes sockets with 1012, flushes, and exits 0', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const { process: child, port, stop } = await spawnServer(db)
    cleanups.push(stop)
    const a = connectClient(`ws://127.0.0.1:${port}`, 'graceful')
    cleanups.push(() => a.destroy())
    await synced(a)
    const closeCodes: number[] = []
    a.provider.on('connection-close', (event: CloseEvent | null) => {
      if (event) closeCodes.push(event.code)
    })
    a.text.insert(0, 'flushed on shutdown')
    await new Promise((resolve) => setTimeout(resolve, 20))
    child.kill('SIGTERM')
    const exitCode = await new Promise((resolve) => child.once('exit', resolve))
    expect(exitCode).toBe(0)
    await waitFor(() => closeCodes.length > 0, 'the client to see the close')
    expect(closeCodes[0]).toBe(CloseCode.serviceRestart)
    a.provider.disconnect()

    const restarted = await startServer({ db })
    cleanups.push(() => restarted.close())
    const b = connectClient(restarted.url, 'graceful')
    cleanups.push(() => b.destroy())
    await synced(b)
    await waitFor(() => b.text.toString() === 'flushed on shutdown', 'the text after a graceful restart')
  })
})

describe('heartbeat and compaction', () => {
  it('terminates a peer that stops answering pings', async () => {
    const server = await startServer({ heartbeatMs: 50 })
    cleanups.push(() => server.close())
    const silent = new WebSocket(`${server.url}/heartbeat`, { autoPong: false })
    cleanups.push(() => silent.terminate())
    const healthy = connectClient(server.url, 'heartbeat')
    cleanups.push(() => healthy.destroy())
    const closed = new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)))
    await synced(healthy)
    // 1006: terminated without a close frame.
    expect(await closed).toBe(1006)
    expect(healthy.provider.wsconnected).toBe(true)
  })

  it('compacts the update log into a snapshot past the threshold, keeping the content', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'compact.db')
    const server = await startServer({ db, compactAfterUpdates: 10 })
    const a = connectClient(server.url, 'compact')
    await synced(a)
    for (let i = 0; i < 35; i++) {
      a.text.insert(a.text.length, `${i}.`)
      await new Promise((resolve) => setImmediate(resolve))
    }
    const expected = a.text.toString()
    // The store merges the log in its worker; what it holds reads back as a snapshot and a short log.
    let stored = await server.server.store.load('compact')
    await waitFor(async () => {
      stored = await server.server.store.load('compact')
      return stored.snapshot !== null && stored.updates.length < 10
    }, 'a snapshot and a short log')
    a.destroy()
    await server.close()
    const again = await startServer({ db })
    cleanups.push(() => again.close())
    const b = connectClient(again.url, 'compact')
    cleanups.push(() => b.destroy())
    await synced(b)
    await waitFor(() => b.text.toString() === expected, 'the compacted content after restart')
  })
})
