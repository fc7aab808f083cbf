/**
 * Hostile input, second round (#19): the work an update causes is priced before it runs. An update
 * whose items, walks or memory are out of proportion to its bytes is refused (4413) and nothing of
 * it is stored; legitimate large work (a long offline session) is applied in slices, one per
 * event-loop turn, and converges; a re-sent deletion costs nothing and is neither stored nor
 * relayed; an update from another instance passes the same admission.
 */
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeBusFrame } from '../server/fanout/bus-message.ts'
import type { ServerConfig } from '../server/index.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import {
  backwardsTextUpdate,
  deleteRangeUpdate,
  handItemsUpdate,
  splitTextUpdates,
  syncUpdateFrame,
} from './helpers/hostile.ts'
import { sharedServices } from './helpers/instances.ts'
import { parsePrometheusText, sampleValue } from './helpers/prometheus-text.ts'
import { RawPeer } from './helpers/raw-peer.ts'
import { freshRedisPrefix, TEST_REDIS_URL } from './helpers/redis.ts'
import {
  cleanupAfterEach,
  connectClient,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const services = await sharedServices(cleanups)
/** Generous bound on how long a refused message may take to close its sender (a guard, not a timing). */
const CLOSE_GUARD_MS = 20_000

async function start(options: Partial<ServerConfig> = {}): Promise<TestServer> {
  const server = await startServer(options)
  cleanups.push(() => server.close())
  return server
}

function client(url: string, room: string, doc?: Y.Doc): TestClient {
  const c = connectClient(url, room, doc ? { doc } : {})
  cleanups.push(() => c.destroy())
  return c
}

async function raw(url: string, room: string): Promise<RawPeer> {
  const peer = new RawPeer(url, room)
  cleanups.push(() => peer.close())
  await peer.opened
  return peer
}

async function metric(
  server: TestServer,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
  return sampleValue(parsePrometheusText(text), name, labels)
}

/** A peer in the room keeps exchanging edits with another. */
async function stillSyncing(url: string, room: string, word: string): Promise<void> {
  const a = client(url, room)
  const b = client(url, room)
  await Promise.all([synced(a), synced(b)])
  a.text.insert(0, word)
  await waitFor(() => b.text.toString().includes(word), `"${word}" to reach the other client`)
}

describe('items out of proportion to bytes', () => {
  it('refuses 200,000 items typed backwards (1.2 MB, ~40 MB in memory) with 4413 and stores nothing', async () => {
    const server = await start()
    const room = 'dense'
    const attacker = await raw(server.url, room)
    const update = backwardsTextUpdate(7_000_001, 200_000)
    expect(update.byteLength).toBeLessThan(2 * 1024 * 1024)
    await attacker.send(syncUpdateFrame(update))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    expect(server.server.rooms.get(room)?.doc.getText('text').length ?? 0).toBe(0)
    expect(await metric(server, 'tandem_updates_refused_total', { reason: 'quota' })).toBe(1)
    await stillSyncing(server.url, room, 'after;')
    const stored = await server.server.store.load(room)
    const restored = new Y.Doc()
    for (const part of stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates) {
      Y.applyUpdate(restored, part)
    }
    expect(restored.getText('text').toString()).toBe('after;')
  })

  it("applies a stock client's offline session of 60,000 unmergeable items in slices; everyone converges", async () => {
    const server = await start()
    const room = 'offline-session'
    const offline = new Y.Doc()
    Y.applyUpdate(offline, backwardsTextUpdate(7_000_002, 60_000, 'text'))
    const watcher = client(server.url, room)
    await synced(watcher)
    const writer = client(server.url, room, offline)
    await synced(writer)
    await waitFor(() => watcher.text.length === 60_000, 'the whole session to reach the other client')
    expect(await metric(server, 'tandem_updates_sliced_total')).toBe(1)
    expect(await metric(server, 'tandem_update_slices_total')).toBeGreaterThan(1)
    // What follows the big update from the same client arrives after it, in order.
    writer.text.insert(0, 'next;')
    await waitFor(() => watcher.text.toString().startsWith('next;'), 'the next edit to arrive')
    expect(watcher.text.toString()).toBe(writer.text.toString())
  })
})

describe('walks', () => {
  it('stores and relays nothing for a deletion sent again (no walk over what is deleted)', async () => {
    const server = await start()
    const room = 'redelete'
    const attacker = await raw(server.url, room)
    const watcher = client(server.url, room)
    await synced(watcher)
    await attacker.send(syncUpdateFrame(backwardsTextUpdate(7_000_003, 20_000)))
    await attacker.send(syncUpdateFrame(deleteRangeUpdate(7_000_003, 0, 20_000)))
    await waitFor(
      () => watcher.text.length === 0 && watcher.doc.store.clients.has(7_000_003),
      'the insert and deletion to arrive',
    )
    await waitFor(async () => (await server.server.store.load(room)).updates.length > 0, 'a commit')
    const storedBefore = (await server.server.store.load(room)).updates.length
    let relayed = 0
    watcher.doc.on('update', () => relayed++)
    for (let i = 0; i < 20; i++) await attacker.send(syncUpdateFrame(deleteRangeUpdate(7_000_003, 0, 20_000)))
    await attacker.send(syncUpdateFrame(backwardsTextUpdate(7_000_004, 1)))
    await waitFor(() => watcher.text.length === 1, 'the marker edit to arrive')
    expect(relayed).toBe(1)
    expect((await server.server.store.load(room)).updates.length).toBe(storedBefore + 1)
    expect(attacker.closeCode).toBeNull()
  })

  it('refuses with 4413 items whose origins are 40,000 structs apart (a conflict walk each)', async () => {
    const server = await start()
    const room = 'far-origins'
    const builder = await raw(server.url, room)
    for (const update of splitTextUpdates(7_000_005, 20_000, 500)) await builder.send(syncUpdateFrame(update))
    const watcher = client(server.url, room)
    await synced(watcher)
    await waitFor(() => watcher.text.length === 20_000, 'the 20,000-character text')
    const attacker = await raw(server.url, room)
    const far = handItemsUpdate(
      7_000_006,
      0,
      Array.from({ length: 60 }, () => ({
        origin: [7_000_005, 1] as [number, number],
        right: [7_000_005, 39_999] as [number, number],
      })),
    )
    expect(far.byteLength).toBeLessThan(1_000)
    await attacker.send(syncUpdateFrame(far))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    expect(server.server.rooms.get(room)?.doc.getText('text').length).toBe(20_000)
    expect(await metric(server, 'tandem_updates_refused_total', { reason: 'work' })).toBe(1)
    await stillSyncing(server.url, room, 'after;')
  })

  it('refuses with 4413 20,000 entries set on one map key without an origin (a quadratic walk)', async () => {
    const server = await start()
    const room = 'key-history'
    const attacker = await raw(server.url, room)
    const sets = handItemsUpdate(
      7_000_007,
      0,
      Array.from({ length: 20_000 }, () => ({ origin: null, right: null, parent: 'm', parentSub: 'k' })),
    )
    await attacker.send(syncUpdateFrame(sets))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    expect(server.server.rooms.get(room)?.doc.getMap('m').size ?? 0).toBe(0)
    await stillSyncing(server.url, room, 'after;')
  })
})

describe.skipIf(services.skip)('updates from another instance', () => {
  it('refuses an item-dense update that appears on the Redis channel; the room re-reads the store', async () => {
    const redisPrefix = freshRedisPrefix()
    const server = await services.startInstance({ redisPrefix })
    const room = 'forged'
    const watcher = client(server.url, room)
    await synced(watcher)
    watcher.text.insert(0, 'real;')
    await waitFor(async () => (await server.server.store.load(room)).updates.length > 0, 'a commit')
    const publisher = new Redis(TEST_REDIS_URL)
    cleanups.push(() => publisher.disconnect())
    const forged = encodeBusFrame('someone-else', [
      { kind: 0, payload: backwardsTextUpdate(7_000_008, 180_000) },
    ])
    await publisher.publish(`${redisPrefix}room:${room}`, Buffer.from(forged))
    // The refusal leads to a resync from the store, which the forged frame never reached.
    await waitFor(
      async () => (await metric(server, 'tandem_updates_refused_total', { reason: 'quota' })) === 1,
      'the forged update to be refused',
    )
    await waitFor(async () => (await metric(server, 'tandem_fanout_resyncs_total')) >= 1, 'a resync')
    expect(server.server.rooms.get(room)?.doc.getText('text').toString()).toBe('real;')
    expect(watcher.text.toString()).toBe('real;')
    await stillSyncing(server.url, room, 'after;')
  })
})
