/**
 * A room feed's catching up, step by step (server/feed/room-feed.ts), on a real HTTP stream read
 * by a real client, with a scripted change log and store so that every interleaving is chosen by
 * the test: changes committed while the store is read are held and sent once, in order; a live
 * change that is not next sends the subscriber back to catching up; changes that did not touch the
 * text are skipped but count; a stored change without its delta yet (another instance's) is taken
 * from memory, and the store is read only up to the room's latest id (later ones come live, even
 * stored without deltas); a stored change without its delta that memory does not hold either, or a
 * pruned range, becomes a reset;
 * a backlog far larger than the stream's bound is paced by the client rather than closed.
 */
import http, { type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Awareness } from 'y-protocols/awareness'
import * as Y from 'yjs'
import { applyDelta } from '../client/src/live/text-delta.ts'
import { RoomFeed } from '../server/feed/room-feed.ts'
import { SseStream } from '../server/feed/sse-stream.ts'
import type { ChangeListener, RoomChangeLog, SequencedChange, TextDelta } from '../server/rooms/change-log.ts'
import type { ChangesRead, StoredChange } from '../server/store/index.ts'
import { EventStream } from './helpers/event-stream.ts'
import { waitFor } from './helpers/relay.ts'

/** A change log whose memory keeps the last `memory` changes; `commit` appends and tells listeners. */
class ScriptedLog implements RoomChangeLog {
  readonly all: SequencedChange[] = []
  private readonly listeners = new Set<ChangeListener>()

  constructor(private readonly memory: number) {}

  get latestId(): number {
    return this.all.length
  }
  get latestAt(): number | null {
    return this.all.at(-1)?.at ?? null
  }
  get length(): number {
    return this.text().length
  }
  text(): string {
    return applyPrefix(this, this.all.length)
  }
  since(after: number): readonly SequencedChange[] | null {
    if (after < this.all.length - this.memory) return null
    return this.all.slice(after)
  }
  pending(): readonly TextDelta[] {
    return []
  }
  unitsAt(indexes: readonly number[]): number[] {
    const text = this.text()
    return indexes.map((at) => (at < text.length ? text.charCodeAt(at) : Number.NaN))
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Commits `delta` (empty: a change that did not touch the text); `tell` false keeps it from listeners. */
  commit(delta: TextDelta, tell = true): SequencedChange {
    const change = { id: this.all.length + 1, at: 1_000 + this.all.length, author: 'Ada', delta }
    this.all.push(change)
    if (tell) for (const listener of this.listeners) listener(change)
    return change
  }

  /** Tells listeners of a change committed earlier (late, out of turn). */
  tell(change: SequencedChange): void {
    for (const listener of this.listeners) listener(change)
  }

  /** Appends "<n>" at the end, `count` times. */
  type(count: number): void {
    for (let i = 0; i < count; i++)
      this.commit([{ retain: this.length }, { insert: `<${this.all.length + 1}>` }])
  }
}

/** The store side: every change after `pruned`, read at once and answered once the test's gate opens. */
class ScriptedStore {
  pruned = 0
  reads = 0
  waiting: Array<() => void> = []
  gated = false
  withoutDelta = new Set<number>()
  /** Changes stored after the log's (committed by another instance, not yet heard), without deltas. */
  elsewhere: SequencedChange[] = []

  constructor(private readonly log: ScriptedLog) {}

  async changesSince(_room: string, after: number, limit: number): Promise<ChangesRead> {
    this.reads++
    // Read now, answered once the gate opens: what is committed meanwhile is not in the answer.
    const all = [...this.log.all, ...this.elsewhere.filter((change) => change.id > this.log.latestId)]
    for (const change of this.elsewhere) this.withoutDelta.add(change.id)
    const kept = all.filter((change) => change.id > this.pruned)
    const changes: StoredChange[] = kept
      .filter((change) => change.id > after)
      .slice(0, limit)
      .map((change) => ({
        id: change.id,
        at: change.at,
        author: change.author,
        delta: this.withoutDelta.has(change.id) ? null : JSON.stringify(change.delta),
      }))
    const read = {
      changes,
      oldest: kept[0]?.id ?? null,
      latest: all.length,
      latestAt: all.at(-1)?.at ?? null,
    }
    if (this.gated) await new Promise<void>((resolve) => this.waiting.push(resolve))
    return read
  }

  open(): void {
    this.gated = false
    for (const resolve of this.waiting.splice(0)) resolve()
  }
}

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A server whose every request subscribes to `feed` after the `Last-Event-ID` it sends. */
async function serve(
  log: ScriptedLog,
  store: ScriptedStore,
  maxBufferBytes = 1024 * 1024,
): Promise<{ port: number; streams: SseStream[] }> {
  const doc = new Y.Doc()
  const feed = new RoomFeed(
    { name: 'scripted', changes: log, awareness: { states: new Awareness(doc) } },
    store,
    pino({ level: 'silent' }),
  )
  const streams: SseStream[] = []
  const server = http.createServer((req, res) => {
    const stream = new SseStream(res, maxBufferBytes)
    streams.push(stream)
    stream.start()
    const last = req.headers['last-event-id']
    feed.add(stream, typeof last === 'string' ? Number(last) : null)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, streams }
}

const caughtUp = (stream: EventStream) => stream.until((s) => s.named('presence').length === 1, 'caught up')

describe('room feed catch-up', () => {
  it('holds what is committed while the store is read, then sends it once, in order', async () => {
    const log = new ScriptedLog(5)
    const store = new ScriptedStore(log)
    log.type(40)
    const { port } = await serve(log, store)
    store.gated = true
    const stream = await EventStream.open(port, '/', { 'last-event-id': '10' })
    await waitFor(() => store.waiting.length === 1, 'the store read')
    log.type(7)
    store.open()
    await caughtUp(stream)
    log.type(3)
    await stream.until((s) => s.ids().at(-1) === 50, 'the live changes')
    expect(stream.ids()).toEqual(Array.from({ length: 40 }, (_, i) => i + 11))
    expect(stream.text(applyPrefix(log, 10))).toBe(log.text())
  })

  it('skips changes that did not touch the text, but never an id', async () => {
    const log = new ScriptedLog(100)
    const store = new ScriptedStore(log)
    log.type(3)
    log.commit([])
    log.type(1)
    const { port } = await serve(log, store)
    const stream = await EventStream.open(port, '/', { 'last-event-id': '2' })
    await caughtUp(stream)
    log.commit([])
    log.type(1)
    await stream.until((s) => s.ids().at(-1) === 7, 'the live change')
    expect(stream.ids()).toEqual([3, 5, 7])
    expect(stream.text(applyPrefix(log, 2))).toBe(log.text())
  })

  it('a live change that is not next sends the subscriber back to catching up', async () => {
    const log = new ScriptedLog(100)
    const store = new ScriptedStore(log)
    const { port } = await serve(log, store)
    const stream = await EventStream.open(port, '/')
    await caughtUp(stream)
    const silent = log.commit([{ insert: 'a' }], false)
    log.type(1)
    // The late one arrives after its successor: already sent from memory, skipped.
    log.tell(silent)
    log.type(1)
    await stream.until((s) => s.ids().at(-1) === 3, 'the changes')
    expect(stream.ids()).toEqual([0, 1, 2, 3])
    expect(stream.text()).toBe(log.text())
  })

  it('resets (expired) when the missed range was pruned or a stored change has no delta', async () => {
    const log = new ScriptedLog(2)
    const store = new ScriptedStore(log)
    log.type(20)
    store.pruned = 10
    const { port } = await serve(log, store)
    const pruned = await EventStream.open(port, '/', { 'last-event-id': '5' })
    await caughtUp(pruned)
    expect(pruned.named('reset').map((e) => [e.id, JSON.parse(e.data).reason])).toEqual([['20', 'expired']])

    store.withoutDelta.add(15)
    const lost = await EventStream.open(port, '/', { 'last-event-id': '12' })
    await caughtUp(lost)
    expect(lost.ids()).toEqual([13, 14, 20])
    expect(lost.named('reset')).toHaveLength(1)
    expect(lost.text(applyPrefix(log, 12))).toBe(log.text())
  })

  it('takes a change stored without its delta yet from memory, and later ones live: no reset', async () => {
    const log = new ScriptedLog(5)
    const store = new ScriptedStore(log)
    log.type(20)
    // Another instance's changes, sequenced here (in memory), their deltas not yet in the store.
    store.withoutDelta.add(17)
    store.withoutDelta.add(19)
    // And two committed elsewhere, in the store but not yet heard here.
    store.elsewhere = [21, 22].map((id) => ({
      id,
      at: 1_000 + id,
      author: 'Bo',
      delta: [{ insert: `[${id}]` }],
    }))
    const { port } = await serve(log, store)
    const stream = await EventStream.open(port, '/', { 'last-event-id': '5' })
    await caughtUp(stream)
    expect(stream.ids()).toEqual(Array.from({ length: 15 }, (_, i) => i + 6))
    for (const change of store.elsewhere) log.commit(change.delta)
    await stream.until((s) => s.ids().at(-1) === 22, 'the changes heard later, live')
    expect(stream.named('reset')).toHaveLength(0)
    expect(stream.text(applyPrefix(log, 5))).toBe(log.text())
  })

  it('paces a backlog far larger than the bound by the client, instead of closing it', async () => {
    const log = new ScriptedLog(10)
    const store = new ScriptedStore(log)
    for (let i = 0; i < 3000; i++) log.commit([{ retain: i * 2_000 }, { insert: `${i % 10}`.repeat(2_000) }])
    const { port, streams } = await serve(log, store, 64 * 1024)
    const stream = await EventStream.open(port, '/', { 'last-event-id': '0' })
    await stream.until((s) => s.named('presence').length === 1, 'the whole backlog', 30_000)
    expect(stream.ids()).toHaveLength(3000)
    expect(streams[0].closed).toBe(false)
    expect(store.reads).toBeGreaterThanOrEqual(6)
  })
})

/** The text as of change `id`. */
function applyPrefix(log: ScriptedLog, id: number): string {
  let text = ''
  for (const change of log.all.slice(0, id)) text = applyDelta(text, change.delta)
  return text
}
