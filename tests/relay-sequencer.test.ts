/**
 * A room's changes across instances (server/rooms/sequencer.ts): two in-process instances on one
 * PostgreSQL and one Redis, a stock client on each typing into one room at once (seeded, astral
 * characters, deletes that split surrogate pairs). On both instances `room.changes` hears every
 * change, its own and the other instance's, as ids 1..N in order, and the deltas applied in id
 * order rebuild the final text; the store's deltas (filled in by each change's committer) do the
 * same; while changes are in flight the document's text is always `text()` then `pending()`. After
 * a Redis outage with edits on both instances, each sequencer replays what it skipped from the
 * store: both hear every id in order, every stored delta gets filled, and a feed resuming over the
 * outage on either instance gets exactly the changes, no reset.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { applyDelta } from '../client/src/live/text-delta.ts'
import { ROOM_TEXT, type SequencedChange } from '../server/rooms/change-log.ts'
import type { Room } from '../server/rooms/room.ts'
import { roomText } from '../server/rooms/text-deltas.ts'
import { feedOpener, typeEdits } from './helpers/event-stream.ts'
import { sharedServices } from './helpers/instances.ts'
import { freshRedisPrefix, TEST_REDIS_URL } from './helpers/redis.ts'
import { cleanupAfterEach, connectClient, synced, type TestClient, waitFor } from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'
import { proxyFor } from './helpers/tcp-proxy.ts'

const cleanups = cleanupAfterEach()
const { skip, startInstance } = await sharedServices(cleanups)
const openFeed = feedOpener(cleanups)

function client(url: string, room: string, name: string): TestClient {
  const c = connectClient(url, room)
  cleanups.push(() => c.destroy())
  c.provider.awareness.setLocalStateField('user', { name, color: '#30bced' })
  return c
}

const docText = (room: Room) => roomText(room.doc.share.get(ROOM_TEXT))

/** Two instances on one Redis, the second through a proxy the test can cut. */
async function twoWithProxy() {
  const prefix = freshRedisPrefix()
  const { proxy, via } = await proxyFor(TEST_REDIS_URL, 6379, cleanups)
  const one = await startInstance({ redisPrefix: prefix })
  const two = await startInstance({ redisPrefix: prefix, redisUrl: via })
  return { proxy, one, two }
}

/** The room's document text equals its text at the latest id with the pending deltas applied. */
function expectPendingExact(room: Room): void {
  const rebuilt = room.changes.pending().reduce((text, delta) => applyDelta(text, delta), room.changes.text())
  expect(rebuilt).toBe(docText(room))
}

describe.skipIf(skip)('change ids and deltas across two instances', () => {
  seededTest(
    'both instances hear ids 1..N in order with deltas that rebuild the text; the store holds the same',
    async (gen) => {
      const prefix = freshRedisPrefix()
      const one = await startInstance({ redisPrefix: prefix })
      const two = await startInstance({ redisPrefix: prefix })
      const name = `sequenced-${prng.uint32(gen, 0, 1e9)}`
      const clients = [client(one.url, name, 'One'), client(two.url, name, 'Two')]
      await Promise.all(clients.map(synced))
      const rooms = [one.server.rooms.get(name)!, two.server.rooms.get(name)!]
      const heard: SequencedChange[][] = rooms.map(() => [])
      for (const [i, room] of rooms.entries()) room.changes.subscribe((change) => heard[i].push(change))
      for (let step = 0; step < 60; step++) {
        const typist = prng.oneOf(gen, clients)
        typeEdits(typist, prng.uint32(gen, 1, 6), prng.uint32(gen, 1, 2 ** 30))
        // Now and then a range anywhere, surrogate pairs split or not (Yjs writes U+FFFD over halves).
        const text = typist.doc.getText(ROOM_TEXT)
        const at = prng.uint32(gen, 0, text.length)
        if (prng.real53(gen) < 0.2) text.delete(at, Math.min(text.length - at, prng.uint32(gen, 1, 3)))
        if (prng.real53(gen) < 0.3) {
          await new Promise((resolve) => setTimeout(resolve, prng.uint32(gen, 0, 3)))
          for (const room of rooms) expectPendingExact(room)
        }
      }
      const final = () => clients[0].doc.getText(ROOM_TEXT).toString()
      const latest = async () =>
        (await one.server.store.changesSince(name, Number.MAX_SAFE_INTEGER, 0)).latest
      await waitFor(
        () => clients.every((c) => c.doc.getText(ROOM_TEXT).toString() === final()),
        'the clients to converge',
        30_000,
      )
      const n = await latest()
      await waitFor(
        () => rooms.every((room) => room.changes.latestId === n && room.changes.pending().length === 0),
        `both rooms to sequence all ${n} changes`,
        30_000,
      )
      for (const [i, room] of rooms.entries()) {
        expect(heard[i].map((change) => change.id)).toEqual(heard[i].map((_, k) => k + 1))
        expect(heard[i]).toHaveLength(n)
        expect(heard[i].reduce((text, change) => applyDelta(text, change.delta), '')).toBe(final())
        expect(room.changes.text()).toBe(final())
        expect(docText(room)).toBe(final())
        expect(new Set(heard[i].map((change) => change.author))).toEqual(new Set(['One', 'Two']))
      }
      // Both heard the same changes.
      expect(heard[1]).toEqual(heard[0])
      // The store: every delta filled in by its committer, rebuilding the text in id order.
      await waitFor(
        async () =>
          (await one.server.store.changesSince(name, 0, 10_000)).changes.every((c) => c.delta !== null),
        'every stored delta to be filled in',
      )
      const stored = await one.server.store.changesSince(name, 0, 10_000)
      expect(stored.changes.map((change) => change.id)).toEqual(heard[0].map((change) => change.id))
      expect(stored.changes.map((change) => JSON.parse(change.delta!))).toEqual(heard[0].map((c) => c.delta))
    },
    { timeout: 90_000 },
  )

  it('changes missed while an instance was cut off from Redis are re-read from the store, in id order', async () => {
    const { proxy, one, two } = await twoWithProxy()
    const name = 'missed-changes'
    const [a, b] = [client(one.url, name, 'A'), client(two.url, name, 'B')]
    await Promise.all([synced(a), synced(b)])
    const room = two.server.rooms.get(name)!
    const heard: SequencedChange[] = []
    room.changes.subscribe((change) => heard.push(change))
    a.doc.getText(ROOM_TEXT).insert(0, 'before ')
    await waitFor(() => room.changes.latestId === 1, 'the first change on two')

    proxy.cut()
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${two.port}/ready`)).status === 503,
      'Redis down',
    )
    a.doc.getText(ROOM_TEXT).insert(7, 'during')
    await waitFor(
      async () => (await one.server.store.changesSince(name, 0, 0)).latest === 2,
      'committed on one',
    )
    proxy.restore()

    // No more typing: the resync re-reads the sequence, which moves to the store's latest id and
    // hands on the change missed, with the delta its committer stored.
    await waitFor(() => room.changes.latestId === 2, 'two to re-read the change it missed', 30_000)
    expect(room.changes.text()).toBe('before during')
    expect(room.changes.since(1)!.map((change) => change.id)).toEqual([2])
    b.doc.getText(ROOM_TEXT).insert(0, '!')
    await waitFor(() => room.changes.latestId === 3, 'the next change heard')
    expect(heard.map((change) => change.id)).toEqual([1, 2, 3])
    expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe('!before during')
  })

  it('after an outage with edits on both instances, each replays what it skipped: every id, every delta, no reset', async () => {
    const { proxy, one, two } = await twoWithProxy()
    const name = 'outage-both'
    const [a, b] = [client(one.url, name, 'A'), client(two.url, name, 'B')]
    await Promise.all([synced(a), synced(b)])
    const rooms = [one.server.rooms.get(name)!, two.server.rooms.get(name)!]
    const heard: SequencedChange[][] = rooms.map(() => [])
    for (const [i, room] of rooms.entries()) room.changes.subscribe((change) => heard[i].push(change))
    a.doc.getText(ROOM_TEXT).insert(0, 'before ')
    await waitFor(() => rooms.every((room) => room.changes.latestId === 1), 'the first change on both')

    proxy.cut()
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${two.port}/ready`)).status === 503,
      'Redis down for two',
    )
    const latest = async () => (await one.server.store.changesSince(name, 0, 0)).latest
    for (let round = 0; round < 3; round++) {
      a.doc.getText(ROOM_TEXT).insert(0, `a${round}`)
      b.doc.getText(ROOM_TEXT).insert(b.doc.getText(ROOM_TEXT).length, `b${round}`)
      const expected = 2 + 2 * (round + 1) - 1
      await waitFor(async () => (await latest()) === expected, `round ${round} committed on both`)
    }
    proxy.restore()

    const n = await latest()
    const final = () => a.doc.getText(ROOM_TEXT).toString()
    await waitFor(() => b.doc.getText(ROOM_TEXT).toString() === final(), 'the clients to converge', 30_000)
    await waitFor(
      () => rooms.every((room) => room.changes.latestId === n && room.changes.pending().length === 0),
      `both rooms to sequence all ${n} changes`,
      30_000,
    )
    for (const [i, room] of rooms.entries()) {
      expect(heard[i].map((change) => change.id)).toEqual(Array.from({ length: n }, (_, k) => k + 1))
      expect(heard[i].reduce((text, change) => applyDelta(text, change.delta), '')).toBe(final())
      expect(room.changes.text()).toBe(final())
    }
    expect(heard[1]).toEqual(heard[0])
    await waitFor(
      async () => (await one.server.store.changesSince(name, 0, 100)).changes.every((c) => c.delta !== null),
      'every stored delta to be filled in',
      30_000,
    )
    const stored = await one.server.store.changesSince(name, 0, 100)
    expect(stored.changes.map((change) => JSON.parse(change.delta!))).toEqual(heard[0].map((c) => c.delta))
    // A feed resuming from before the outage, on either instance: exactly the changes, no reset.
    for (const server of [one, two]) {
      const feed = await openFeed(server.port, name, { 'Last-Event-ID': '1' })
      await feed.until((s) => s.named('presence').length > 0, 'the feed to catch up')
      expect(feed.named('reset')).toHaveLength(0)
      expect(feed.changes().map((change) => change.id)).toEqual(
        Array.from({ length: n - 1 }, (_, k) => k + 2),
      )
      expect(feed.text('before ')).toBe(final())
    }
  })
})
