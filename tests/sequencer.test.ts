/**
 * The change sequencer (server/rooms/sequencer.ts) step by step, on a memory store: changes offered
 * out of order are heard in id order with deltas exact in that order; a missing id restarts the
 * sequence from the store after the wait (the document merged first), as does a buffer past its
 * bound, and the restart replays the skipped changes from their stored updates (on SQLite), filling
 * the deltas the store lacks; with a store from before updates were kept it skips to the store's
 * latest, or hands on the stored deltas when it has them all; own changes get their delta filled in the store; the
 * delta from the text at the latest id to the document (`pending`) is exact; a consistent read
 * holds exactly the changes up to the id it returns.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { applyDelta } from '../client/src/live/text-delta.ts'
import { type ChangesRead, type ChangesReadOptions, type DocStore, MemoryStore } from '../server/index.ts'
import { ROOM_TEXT, type SequencedChange } from '../server/rooms/change-log.ts'
import { readConsistent, Sequencer } from '../server/rooms/sequencer.ts'
import { roomText } from '../server/rooms/text-deltas.ts'
import type { StoredRoom } from '../server/store/index.ts'
import { ForwardingStore } from './helpers/forwarding-store.ts'
import { waitFor } from './helpers/relay.ts'
import { storeBackends } from './helpers/store-backends.ts'

const { backends } = await storeBackends()
/** A real SQLite file in a temp dir, closed after each test. */
const openSqlite = () => backends.find((backend) => backend.name === 'SqliteStore')!.open()

/** A store from before changes kept their updates: each reads with a null update. */
class WithoutUpdates extends ForwardingStore {
  override async changesSince(
    room: string,
    after: number,
    limit: number,
    options?: ChangesReadOptions,
  ): Promise<ChangesRead> {
    const read = await this.inner.changesSince(room, after, limit, options)
    return { ...read, changes: read.changes.map((change) => ({ ...change, update: null })) }
  }
}

const ROOM = 'seq'

/** A writer's document and the updates it made, committed to `store` as changes. */
async function commit(store: DocStore, writer: Y.Doc, edit: (text: Y.Text) => void) {
  let update: Uint8Array | null = null
  const capture = (u: Uint8Array) => {
    update = u
  }
  writer.on('update', capture)
  edit(writer.getText(ROOM_TEXT))
  writer.off('update', capture)
  const [id] = await store.append([
    { room: ROOM, update: update!, change: { at: AT, author: 'W', delta: null } },
  ])
  return { id, at: AT, author: 'W', update: update! }
}
const AT = 1_000

function applyStored(doc: Y.Doc, stored: StoredRoom): void {
  if (stored.snapshot) Y.applyUpdate(doc, stored.snapshot)
  for (const update of stored.updates) Y.applyUpdate(doc, update)
}

async function setup(store: DocStore, doc: Y.Doc, gapMs = 30, maxBuffered = 100, maxBufferedBytes = 1 << 20) {
  const heard: SequencedChange[] = []
  const restarts: Array<{ latest: number; text: string }> = []
  const sequencer = new Sequencer({
    name: ROOM,
    doc,
    store,
    log: pino({ level: 'silent' }),
    latest: { id: 0, exact: true },
    restore: { maxJsonDepth: 64, budget: 1e9 },
    merge: async (stored) => applyStored(doc, stored),
    sequenced: (change) => heard.push(change),
    restarted: (latest, _at, text) => restarts.push({ latest, text }),
    gapMs,
    maxBuffered,
    maxBufferedBytes,
  })
  await sequencer.start({ snapshot: null, updates: [], logBytes: 0 })
  return { heard, restarts, sequencer }
}

/**
 * Commits 'one ', 'two ', 'three' (their deltas stored when `withDeltas`) and offers the first and
 * the third, the second dropped on the way; returns the writer's document.
 */
async function secondDropped(store: DocStore, doc: Y.Doc, sequencer: Sequencer, withDeltas: boolean) {
  const a = new Y.Doc()
  const c1 = await commit(store, a, (t) => t.insert(0, 'one '))
  await commit(store, a, (t) => t.insert(4, 'two '))
  const c3 = await commit(store, a, (t) => t.insert(8, 'three'))
  if (withDeltas) {
    await store.setChangeDelta(ROOM, 2, JSON.stringify([{ retain: 4 }, { insert: 'two ' }]))
    await store.setChangeDelta(ROOM, 3, JSON.stringify([{ retain: 8 }, { insert: 'three' }]))
  }
  for (const c of [c1, c3]) Y.applyUpdate(doc, c.update)
  sequencer.offer({ ...c1, own: false })
  sequencer.offer({ ...c3, own: false })
  return a
}

describe('change sequencer', () => {
  it('hears changes offered out of order in id order, with deltas exact in that order', async () => {
    const store = new MemoryStore()
    const doc = new Y.Doc()
    const { heard, sequencer } = await setup(store, doc)
    const a = new Y.Doc()
    const b = new Y.Doc()
    const c1 = await commit(store, a, (t) => t.insert(0, 'abc'))
    Y.applyUpdate(b, c1.update)
    // Concurrent: b inserts at 1, a deletes at 0, committed b first.
    const c2 = await commit(store, b, (t) => t.insert(1, 'XY'))
    const c3 = await commit(store, a, (t) => t.delete(0, 2))
    // The document applies them in another order than their ids.
    for (const c of [c1, c3, c2]) Y.applyUpdate(doc, c.update)
    sequencer.offer({ ...c3, own: true })
    expect(heard).toEqual([])
    sequencer.offer({ ...c1, own: false })
    expect(heard.map((change) => change.id)).toEqual([1])
    sequencer.offer({ ...c2, own: false })
    expect(heard.map((change) => change.id)).toEqual([1, 2, 3])
    expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe(
      roomText(doc.share.get(ROOM_TEXT)),
    )
    expect(sequencer.pending()).toEqual([])
    // Own ones get their delta in the store.
    await waitFor(async () => (await store.changesSince(ROOM, 2, 1)).changes[0].delta !== null, 'the delta')
    expect(JSON.parse((await store.changesSince(ROOM, 2, 1)).changes[0].delta!)).toEqual(heard[2].delta)
    expect((await store.changesSince(ROOM, 1, 1)).changes[0].delta).toBeNull()
    sequencer.destroy()
  })

  it('a restart replays the skipped changes from their stored updates and fills their deltas', async () => {
    const store = await openSqlite()
    const doc = new Y.Doc()
    const { heard, restarts, sequencer } = await setup(store, doc)
    const a = new Y.Doc()
    const b = new Y.Doc()
    const c1 = await commit(store, a, (t) => t.insert(0, 'abc'))
    Y.applyUpdate(b, c1.update)
    // Concurrent: b's insert (committed elsewhere, its bus entry lost) and this instance's delete.
    await commit(store, b, (t) => t.insert(1, 'XY'))
    const c3 = await commit(store, a, (t) => t.delete(0, 2))
    for (const c of [c1, c3]) Y.applyUpdate(doc, c.update)
    sequencer.offer({ ...c1, own: false })
    sequencer.offer({ ...c3, own: true })
    await waitFor(() => heard.length === 3, 'the skipped change and the one after it replayed')
    expect(restarts).toEqual([])
    expect(heard.map((change) => change.id)).toEqual([1, 2, 3])
    // The document was merged first: it holds the change whose entry was lost.
    expect(roomText(doc.share.get(ROOM_TEXT))).toBe('XYc')
    expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe('XYc')
    expect(sequencer.pending()).toEqual([])
    // The store lacked deltas 2 and 3 (2's committer never wrote it here; 3 was never sequenced live).
    const deltas = async () => (await store.changesSince(ROOM, 1, 10)).changes.map((change) => change.delta)
    await waitFor(async () => (await deltas()).every((delta) => delta !== null), 'the deltas filled')
    expect((await deltas()).map((delta) => JSON.parse(delta!))).toEqual(heard.slice(1).map((c) => c.delta))
    // Change 1 was heard live from its committer's entry: writing its delta is the committer's job.
    expect((await store.changesSince(ROOM, 0, 1)).changes[0].delta).toBeNull()
    expect(sequencer.latestId).toBe(3)
    const c4 = await commit(store, a, (t) => t.insert(0, '!'))
    Y.applyUpdate(doc, c4.update)
    sequencer.offer({ ...c4, own: false })
    expect(heard.map((change) => change.id)).toEqual([1, 2, 3, 4])
    expect(applyDelta('XYc', heard[3].delta)).toBe(roomText(doc.share.get(ROOM_TEXT)))
    sequencer.destroy()
  })

  it('without stored updates (an older database) a restart skips to the store, the document merged first', async () => {
    const store = new WithoutUpdates(new MemoryStore())
    const doc = new Y.Doc()
    const { heard, restarts, sequencer } = await setup(store, doc)
    const a = await secondDropped(store, doc, sequencer, false)
    await waitFor(() => restarts.length === 1, 'the restart after the wait')
    expect(restarts[0]).toEqual({ latest: 3, text: 'one two three' })
    expect(roomText(doc.share.get(ROOM_TEXT))).toBe('one two three')
    expect(sequencer.latestId).toBe(3)
    const c4 = await commit(store, a, (t) => t.insert(0, '!'))
    Y.applyUpdate(doc, c4.update)
    sequencer.offer({ ...c4, own: false })
    expect(heard.map((change) => change.id)).toEqual([1, 4])
    expect(applyDelta('one two three', heard[1].delta)).toBe('!one two three')
    sequencer.destroy()
  })

  it('without stored updates a restart hands on the changes it skipped when the store keeps their deltas', async () => {
    const store = new WithoutUpdates(new MemoryStore())
    const doc = new Y.Doc()
    const { heard, restarts, sequencer } = await setup(store, doc)
    await secondDropped(store, doc, sequencer, true)
    await waitFor(() => heard.length === 3, 'the skipped change handed on')
    expect(restarts).toEqual([])
    expect(heard.map((change) => change.id)).toEqual([1, 2, 3])
    expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe('one two three')
    sequencer.destroy()
  })

  it('restarts when too many changes, or too many bytes, wait', async () => {
    for (const [maxBuffered, maxBytes] of [
      [2, 1 << 20],
      [100, 1],
    ]) {
      const store = new MemoryStore()
      const doc = new Y.Doc()
      const { heard, restarts, sequencer } = await setup(store, doc, 60_000, maxBuffered, maxBytes)
      const a = new Y.Doc()
      const changes = []
      for (let i = 0; i < 4; i++) changes.push(await commit(store, a, (t) => t.insert(0, `${i}`)))
      for (const c of changes.slice(1)) sequencer.offer({ ...c, own: false })
      // Not the wait (a minute): the bound restarts it, and the restart replays all four.
      await waitFor(() => heard.length === 4, 'the restart')
      expect(restarts).toEqual([])
      expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe('3210')
      sequencer.destroy()
    }
  })

  it('pending is the delta from the text at the latest id to the document, by item identity', async () => {
    const store = new MemoryStore()
    const doc = new Y.Doc()
    const { sequencer } = await setup(store, doc)
    const a = new Y.Doc()
    const c1 = await commit(store, a, (t) => t.insert(0, 'hello 😀 world'))
    Y.applyUpdate(doc, c1.update)
    sequencer.offer({ ...c1, own: false })
    // Not yet sequenced: a local edit and another instance's, applied to the document only.
    doc.getText(ROOM_TEXT).delete(0, 1)
    doc.getText(ROOM_TEXT).insert(6, 'big ')
    const other = new Y.Doc()
    Y.applyUpdate(other, c1.update)
    other.getText(ROOM_TEXT).insert(14, '!')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)))
    const delta = sequencer.pending()
    expect(applyDelta('hello 😀 world', delta)).toBe(roomText(doc.share.get(ROOM_TEXT)))
    sequencer.destroy()
  })

  it('a consistent read holds exactly the changes up to its id', async () => {
    const store = new MemoryStore()
    const a = new Y.Doc()
    await commit(store, a, (t) => t.insert(0, 'x'))
    await commit(store, a, (t) => t.insert(1, 'y'))
    const read = await readConsistent(store, ROOM)
    expect(read.exact).toBe(true)
    expect(read.latest).toBe(2)
    const doc = new Y.Doc()
    applyStored(doc, read.stored)
    expect(doc.getText(ROOM_TEXT).toString()).toBe('xy')
  })
})
