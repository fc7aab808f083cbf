/**
 * Resuming the change feed (PROTOCOL.md, "Resume"): a subscriber that reconnects with
 * `Last-Event-ID` or `?lastEventId=` receives exactly the changes it missed, in order, none twice,
 * then live ones: from the room's memory, from the store when memory does not reach back (with a
 * change committed while the store is being read), after the server is SIGKILLed and restarted on
 * the same SQLite file; and one `reset` (reason expired) when the missed changes were pruned.
 *
 * "Exactly": a subscriber that stayed connected throughout saw every change; the resumed one must
 * see the same ids after its last one, and the deltas must rebuild the writer's text.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type ServerConfig, SqliteStore } from '../server/index.ts'
import type { ChangesRead } from '../server/store/index.ts'
import { type EventStream, feedOpener, typeEdits } from './helpers/event-stream.ts'
import { ForwardingStore } from './helpers/forwarding-store.ts'
import {
  cleanupAfterEach,
  connectClient,
  makeTempDir,
  spawnServer,
  synced,
  type TestClient,
  tracked,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const t = tracked(cleanups)

const openFeed = feedOpener(cleanups)

/** The room's text and change id as the server answers them. */
async function served(port: number, room: string): Promise<{ text: string; id: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/rooms/${room}/text`)
  return { text: await response.text(), id: Number(response.headers.get('tandem-change-id')) }
}

/** Waits until the server's text is the writer's (everything typed is committed). */
async function committed(port: number, room: string, writer: TestClient): Promise<number> {
  const expected = () => writer.doc.getText('codemirror').toString()
  await waitFor(async () => (await served(port, room)).text === expected(), 'the typing to be committed')
  return (await served(port, room)).id
}

/** Change ids of a stream's change events after `after`. */
const changeIdsAfter = (stream: EventStream, after: number) =>
  stream
    .changes()
    .map((change) => change.id)
    .filter((id) => id > after)

/**
 * Types, drops a subscriber, types more, resumes it with `resume`, types more while it catches
 * up, and checks the resumed stream against one that never dropped.
 */
async function dropAndResume(
  config: Partial<ServerConfig>,
  resume: (port: number, lastId: string) => Promise<EventStream>,
  options: {
    beforeResume?: () => void
    whileResuming?: (writer: TestClient, port: number) => Promise<void>
  } = {},
) {
  const { port, url } = await t.start(config)
  const writer = t.client(url, 'resume')
  await synced(writer)
  const steady = await openFeed(port, 'resume')
  const dropped = await openFeed(port, 'resume')
  typeEdits(writer, 30, 1)
  await committed(port, 'resume', writer)
  await dropped.until((s) => s.text() === writer.doc.getText('codemirror').toString(), 'the first typing')
  const lastId = dropped.lastEventId
  const textAtDrop = dropped.text()
  dropped.close()

  typeEdits(writer, 60, 2)
  await committed(port, 'resume', writer)
  options.beforeResume?.()
  const resumed = await resume(port, lastId)
  await options.whileResuming?.(writer, port)
  typeEdits(writer, 20, 3)
  const latest = await committed(port, 'resume', writer)
  const final = writer.doc.getText('codemirror').toString()
  await resumed.until((s) => s.text(textAtDrop) === final, 'the resumed stream to catch up')
  await steady.until((s) => s.text() === final, 'the steady stream')

  expect(resumed.named('reset')).toEqual([])
  expect(changeIdsAfter(resumed, 0)).toEqual(changeIdsAfter(steady, Number(lastId)))
  const ids = resumed.ids()
  expect(ids[0]).toBeGreaterThan(Number(lastId))
  expect(ids.at(-1)).toBeLessThanOrEqual(latest)
  expect(resumed.named('presence')).toHaveLength(1)
  return { resumed, steady, lastId: Number(lastId) }
}

describe('change feed resume', () => {
  it('with Last-Event-ID: exactly the missed changes from memory, then live ones', async () => {
    await dropAndResume({}, (port, lastId) => openFeed(port, 'resume', { 'last-event-id': lastId }))
  })

  it('with ?lastEventId= (the header wins when both are sent)', async () => {
    await dropAndResume({}, (port, lastId) => openFeed(port, 'resume', {}, `?lastEventId=${lastId}`))
    await dropAndResume({}, (port, lastId) =>
      openFeed(port, 'resume', { 'last-event-id': lastId }, '?lastEventId=1'),
    )
  })

  it('from the store when memory does not reach back, with changes committed while the store is read', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const store = new GatedChanges(new SqliteStore(join(dir, 'gated.db')))
    await dropAndResume(
      { store, feedKeepChanges: 5 },
      (port, lastId) => openFeed(port, 'resume', { 'last-event-id': lastId }),
      {
        beforeResume: () => store.hold(),
        whileResuming: async (writer, port) => {
          await waitFor(() => store.waiting > 0, 'the resume to read the store')
          // Committed while the resume's read of the store is under way: held, then sent once.
          typeEdits(writer, 20, 4)
          await committed(port, 'resume', writer)
          store.letGo()
        },
      },
    )
    expect(store.reads).toBeGreaterThan(0)
  })

  it('resets (reason expired) when the missed changes were pruned, then goes on live', async () => {
    const { port, url } = await t.start({ feedKeepChanges: 5, feedKeepHours: 0, compactAfterUpdates: 10 })
    const writer = t.client(url, 'pruned')
    await synced(writer)
    typeEdits(writer, 60)
    const latest = await committed(port, 'pruned', writer)
    const stream = await openFeed(port, 'pruned', { 'last-event-id': '1' })
    await stream.until((s) => s.named('presence').length === 1, 'the start')
    const [reset] = stream.named('reset')
    expect(JSON.parse(reset.data)).toMatchObject({
      reason: 'expired',
      text: writer.doc.getText('codemirror').toString(),
    })
    expect(Number(reset.id)).toBe(latest)
    typeEdits(writer, 10, 5)
    await committed(port, 'pruned', writer)
    await stream.until((s) => s.text() === writer.doc.getText('codemirror').toString(), 'live changes')
  })

  it('resets (reason unknown) for an id the room never reached', async () => {
    const { port } = await t.start()
    const stream = await openFeed(port, 'fresh', { 'last-event-id': '42' })
    await stream.until((s) => s.named('presence').length === 1, 'the start')
    expect(stream.named('reset').map((event) => [event.id, JSON.parse(event.data).reason])).toEqual([
      ['0', 'unknown'],
    ])
  })

  it('after the server is SIGKILLed and restarted on the same SQLite file', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const first = await spawnServer(db)
    cleanups.push(first.stop)
    const writer = connectClient(`ws://127.0.0.1:${first.port}`, 'crash')
    cleanups.push(() => writer.destroy())
    await synced(writer)
    const dropped = await openFeed(first.port, 'crash')
    typeEdits(writer, 40, 6)
    await committed(first.port, 'crash', writer)
    await dropped.until((s) => s.text() === writer.doc.getText('codemirror').toString(), 'the first typing')
    const lastId = dropped.lastEventId
    const textAtDrop = dropped.text()
    dropped.close()
    typeEdits(writer, 40, 7)
    const latest = await committed(first.port, 'crash', writer)
    const final = writer.doc.getText('codemirror').toString()
    writer.destroy()
    first.process.kill('SIGKILL')
    await new Promise((resolve) => first.process.once('exit', resolve))

    const second = await spawnServer(db)
    cleanups.push(second.stop)
    const resumed = await openFeed(second.port, 'crash', { 'last-event-id': lastId })
    await resumed.until((s) => s.named('presence').length === 1, 'the resume')
    expect(resumed.named('reset')).toEqual([])
    expect(resumed.text(textAtDrop)).toBe(final)
    const ids = resumed.ids()
    expect(ids[0]).toBeGreaterThan(Number(lastId))
    expect(ids.at(-1)).toBeLessThanOrEqual(latest)
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1])
    expect((await served(second.port, 'crash')).id).toBe(latest)
  })
})

/** A store whose reads of changes (not the room loads' latest-id reads) wait while its gate is closed. */
class GatedChanges extends ForwardingStore {
  reads = 0
  waiting = 0
  private gate: Promise<void> | null = null
  private release: () => void = () => {}

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.release = resolve
    })
  }

  letGo(): void {
    this.gate = null
    this.release()
  }

  override async changesSince(room: string, after: number, limit: number): Promise<ChangesRead> {
    if (limit > 0) {
      this.reads++
      if (this.gate) {
        this.waiting++
        await this.gate
        this.waiting--
      }
    }
    return this.inner.changesSince(room, after, limit)
  }
}
