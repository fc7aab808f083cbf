/**
 * A room's change log (server/rooms/room-changes.ts), the seam the change feed and the HTTP API
 * build on, on a real server with stock y-websocket clients: every committed change is numbered
 * 1, 2, … in commit order, heard once by each listener, in id order, only after the store holds it,
 * with its author (the typing client's presence name) and a text delta; the deltas in id order
 * rebuild the text exactly (seeded edits with astral and combining characters); the text at the
 * latest id is the document's whenever nothing is pending; ids continue after a restart on the
 * same SQLite file; the server's own writes (`applyLocal`, `editText`) reach connected clients and
 * resolve with their id once durable.
 */
import { join } from 'node:path'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { TEXT_NAME } from '../client/src/editor.ts'
import { applyDelta } from '../client/src/live/text-delta.ts'
import { BusKind } from '../server/fanout/bus-message.ts'
import { MemoryStore, PeerError, SqliteStore } from '../server/index.ts'
import type { ChangeListener, SequencedChange } from '../server/rooms/change-log.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { type Room, RoomUnloadedError } from '../server/rooms/room.ts'
import { roomText } from '../server/rooms/text-deltas.ts'
import { FlakyStore } from './helpers/flaky-store.ts'
import { backwardsTextUpdate } from './helpers/hostile.ts'
import {
  cleanupAfterEach,
  makeTempDir,
  synced,
  type TestClient,
  type TestServer,
  tracked,
  waitFor,
} from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'

const cleanups = cleanupAfterEach()
const { start, client } = tracked(cleanups)

/** What a listener saw of one change, and how many changes the store held at that moment. */
interface Heard {
  change: SequencedChange
  stored: number
}

/** A real server whose store records what it has durably appended. */
async function startRecorded(): Promise<{ server: TestServer; store: FlakyStore }> {
  const store = new FlakyStore(new MemoryStore())
  const server = await start({ store })
  return { server, store }
}

/** Subscribes to `room`'s changes, noting for each how many entries the store held when heard. */
function listen(room: Room, store: FlakyStore): Heard[] {
  const heard: Heard[] = []
  room.changes.subscribe((change) => heard.push({ change, stored: store.appended.length }))
  return heard
}

/** The room's document text, as the change log counts it. */
const docText = (room: Room) => roomText(room.doc.share.get(ROOM_TEXT))

/** Waits until nothing is pending and checks the text at the latest id is the document's. */
async function settled(room: Room): Promise<void> {
  await waitFor(() => room.changes.pending().length === 0, 'the room to commit what it applied')
  expect(room.changes.text()).toBe(docText(room))
  expect(room.changes.length).toBe(docText(room).length)
}

/** Sets the presence name a stock client shows (y-codemirror's `user` field). */
function setName(c: TestClient, name: string): void {
  c.provider.awareness.setLocalStateField('user', { name, color: '#30bced' })
}

describe('room change log', () => {
  it('edits the text the browser client edits', () => {
    expect(ROOM_TEXT).toBe(TEXT_NAME)
  })

  it('numbers each change, heard once, in id order, after the store holds it, with its author and delta', async () => {
    const { server, store } = await startRecorded()
    // Each append takes a while, so a change heard before it is durable would show.
    store.delayMs = 5
    const a = client(server.url, 'notes')
    const b = client(server.url, 'notes')
    setName(a, 'Ada')
    setName(b, 'Bob')
    await Promise.all([synced(a), synced(b)])
    const room = server.server.rooms.get('notes')!
    await waitFor(() => room.awareness.size === 2, 'both names to reach the room')
    const textA = a.doc.getText(ROOM_TEXT)
    const textB = b.doc.getText(ROOM_TEXT)
    textA.insert(0, 'hello')
    await waitFor(() => textB.toString() === 'hello', 'b to see the first edit (stored by then)')
    expect(room.changes.latestId).toBe(1)
    const heard = listen(room, store)

    textA.insert(5, ' world')
    textB.delete(0, 1)
    textB.insert(0, 'H')
    a.doc.getMap('meta').set('title', 'greeting')
    await waitFor(() => textA.toString() === textB.toString(), 'a and b to converge')
    await waitFor(() => heard.length === store.appended.length - 1, 'every stored change to be heard')
    await settled(room)

    // Once each, in id order, each after the store held it.
    expect(heard.map(({ change }) => change.id)).toEqual(heard.map((_, i) => i + 2))
    expect(heard.every(({ change, stored }) => stored >= change.id)).toBe(true)
    expect(room.changes.latestId).toBe(store.appended.length)
    expect(room.changes.latestAt).toBe(heard[heard.length - 1].change.at)
    // Who: the presence name of the client that typed it.
    expect(new Set(heard.map(({ change }) => change.author))).toEqual(new Set(['Ada', 'Bob']))
    // The deltas compose into the text; the map change changed no text (an id all the same).
    const text = heard.reduce((text, { change }) => applyDelta(text, change.delta), 'hello')
    expect(text).toBe(textA.toString())
    expect(text).toBe('Hello world')
    expect(heard.some(({ change }) => change.delta.length === 0)).toBe(true)
    // As stored: the same author and delta under the same id.
    const read = await server.server.store.changesSince('notes', 1, 100)
    expect(read.changes.map(({ id, author, delta }) => ({ id, author, delta }))).toEqual(
      heard.map(({ change }) => ({
        id: change.id,
        author: change.author,
        delta: JSON.stringify(change.delta),
      })),
    )
    // Memory answers the same from any id it keeps.
    expect(room.changes.since(1)).toEqual(heard.map(({ change }) => change))
    expect(room.changes.since(room.changes.latestId)).toEqual([])
  })

  it('stops hearing once unsubscribed; a listener subscribed twice hears twice', async () => {
    const { server } = await startRecorded()
    const a = client(server.url, 'quiet')
    await synced(a)
    const room = server.server.rooms.get('quiet')!
    const heard: SequencedChange[] = []
    const listener: ChangeListener = (change) => heard.push(change)
    const unsubscribe = room.changes.subscribe(listener)
    const twice = room.changes.subscribe(listener)
    a.doc.getText(ROOM_TEXT).insert(0, 'one')
    await waitFor(() => heard.length === 2, 'the first change to be heard (twice)')
    unsubscribe()
    twice()
    a.doc.getText(ROOM_TEXT).insert(3, ' two')
    await waitFor(() => room.changes.latestId === 2, 'the second change to be committed')
    const later: SequencedChange[] = []
    room.changes.subscribe((change) => later.push(change))
    a.doc.getText(ROOM_TEXT).insert(7, '!')
    await waitFor(() => later.length === 1, 'the third change to be heard')
    expect(heard.map((change) => change.id)).toEqual([1, 1])
    expect(later.map((change) => change.id)).toEqual([3])
    await settled(room)
  })

  it("takes another instance's change into the text after its own still being written, without numbering it", async () => {
    const { server, store } = await startRecorded()
    const a = client(server.url, 'shared')
    await synced(a)
    const room = server.server.rooms.get('shared')!
    const heard = listen(room, store)
    // The room's own change waits in the store...
    store.delayMs = 200
    a.doc.getText(ROOM_TEXT).insert(0, 'local')
    const applied = () => Y.decodeStateVector(Y.encodeStateVector(room.doc)).get(a.doc.clientID) ?? 0
    await waitFor(() => applied() === 5, 'the local edit to be applied')
    // ...while another instance's committed change arrives on the bus.
    const other = new Y.Doc()
    other.getText(ROOM_TEXT).insert(0, 'remote ')
    expect(room.applyRemote(BusKind.update, Y.encodeStateAsUpdate(other))).toBe(true)
    expect(room.changes.pending()).toHaveLength(2)
    await waitFor(() => a.doc.getText(ROOM_TEXT).length === 12, 'the remote change to reach a')
    await settled(room)
    // Only the room's own change is numbered here (the other was numbered where it was committed).
    expect(heard.map(({ change }) => change.id)).toEqual([1])
    expect(room.changes.latestId).toBe(1)
    expect(room.changes.text()).toBe(a.doc.getText(ROOM_TEXT).toString())
  })

  seededTest(
    'numbers concurrent typing from two stock clients 1..N; the deltas in id order rebuild the text exactly',
    async (gen) => {
      const { dir, cleanup } = makeTempDir()
      cleanups.push(cleanup)
      const server = await start({ db: join(dir, 'tandem.db') })
      const clients = [client(server.url, 'typing'), client(server.url, 'typing')]
      setName(clients[0], 'One')
      setName(clients[1], 'Two')
      await Promise.all(clients.map(synced))
      const room = server.server.rooms.get('typing')!
      const heard: SequencedChange[] = []
      room.changes.subscribe((change) => heard.push(change))
      const pieces = ['a', 'bc', '😀', 'e\u0301', '𝔘𝔫𝔦', ' ', '\n', 'long words here ']
      for (let step = 0; step < 300; step++) {
        const text = prng.oneOf(gen, clients).doc.getText(ROOM_TEXT)
        const s = text.toString()
        if (s.length > 0 && prng.real53(gen) < 0.3) {
          // Any range, astral pairs split or not: Yjs writes U+FFFD over the halves it splits.
          const at = prng.uint32(gen, 0, s.length - 1)
          text.delete(at, Math.min(s.length - at, prng.uint32(gen, 1, 5)))
        } else text.insert(prng.uint32(gen, 0, s.length), prng.oneOf(gen, pieces))
        // Let the clients' messages interleave now and then.
        if (prng.real53(gen) < 0.2)
          await new Promise((resolve) => setTimeout(resolve, prng.uint32(gen, 0, 3)))
      }
      const final = () => clients[0].doc.getText(ROOM_TEXT).toString()
      await waitFor(
        () =>
          clients.every((c) => c.doc.getText(ROOM_TEXT).toString() === docText(room)) &&
          final() === docText(room),
        'the clients and the room to converge',
      )
      await settled(room)
      expect(heard.map((change) => change.id)).toEqual(heard.map((_, i) => i + 1))
      expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe(final())
      expect(room.changes.text()).toBe(final())
      expect(new Set(heard.map((change) => change.author))).toEqual(new Set(['One', 'Two']))
      // The store holds the same, under the same ids.
      const stored = await server.server.store.changesSince('typing', 0, 10_000)
      expect(stored.latest).toBe(heard.length)
      const rebuilt = stored.changes.reduce((text, change) => applyDelta(text, JSON.parse(change.delta!)), '')
      expect(rebuilt).toBe(final())
    },
    { timeout: 60_000 },
  )

  it('continues the ids after a restart on the same SQLite file, from the text as stored', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const first = await start({ db })
    const a = client(first.url, 'persist')
    await synced(a)
    a.doc.getText(ROOM_TEXT).insert(0, 'one')
    a.doc.getText(ROOM_TEXT).insert(3, ' two')
    await waitFor(() => first.server.rooms.get('persist')?.changes.latestId === 2, 'two changes committed')
    const at = first.server.rooms.get('persist')!.changes.latestAt
    a.destroy()
    await first.close()

    const second = await start({ db })
    const b = client(second.url, 'persist')
    await synced(b)
    const room = second.server.rooms.get('persist')!
    expect(room.changes.latestId).toBe(2)
    expect(room.changes.latestAt).toBe(at)
    expect(room.changes.text()).toBe('one two')
    // What was committed before the restart is read from the store, not memory.
    expect(room.changes.since(0)).toBeNull()
    b.doc.getText(ROOM_TEXT).insert(7, '!')
    await waitFor(() => room.changes.latestId === 3, 'the next change to be numbered 3')
    expect(room.changes.since(2)!.map((change) => change.delta)).toEqual([[{ retain: 7 }, { insert: '!' }]])
    await settled(room)
    expect(room.changes.text()).toBe('one two!')
  })

  it('applyLocal and editText reach a connected client and resolve with their id once durable', async () => {
    const store = new FlakyStore(new SqliteStore(join(makeTempDirTracked(), 'tandem.db')))
    const server = await start({ store })
    const a = client(server.url, 'api')
    await synced(a)
    const room = server.server.rooms.get('api')!
    const text = a.doc.getText(ROOM_TEXT)
    text.insert(0, 'abc')
    await waitFor(() => room.changes.latestId === 1, 'the first change')
    const heard: SequencedChange[] = []
    room.changes.subscribe((change) => heard.push(change))
    store.delayMs = 20

    // A Yjs update the server writes: admitted as a socket's, relayed, durable when it resolves.
    const writer = new Y.Doc()
    Y.applyUpdate(writer, Y.encodeStateAsUpdate(room.doc))
    const before = Y.encodeStateVector(writer)
    writer.getText(ROOM_TEXT).insert(3, 'd')
    const id = await room.applyLocal(Y.encodeStateAsUpdate(writer, before), 'Script')
    expect(id).toBe(2)
    expect((await store.changesSince('api', 0, 10)).latest).toBe(2)
    expect(heard.map((change) => [change.id, change.author])).toEqual([[2, 'Script']])
    await waitFor(() => text.toString() === 'abcd', 'the client to see the update')

    // A text edit in one transaction.
    const edited = await room.editText((t) => {
      t.delete(0, 1)
      t.insert(0, 'A')
    }, 'Bot')
    expect(edited).toBe(3)
    expect(store.appended).toHaveLength(3)
    expect(heard[1]).toMatchObject({ id: 3, author: 'Bot', delta: [{ delete: 1 }, { insert: 'A' }] })
    await waitFor(() => text.toString() === 'Abcd', 'the client to see the edit')
    // Nothing changed, nothing new: the latest id.
    expect(await room.editText(() => {}, 'Bot')).toBe(3)
    expect(await room.applyLocal(Y.encodeStateAsUpdate(writer, Y.encodeStateVector(writer)), 'Script')).toBe(
      3,
    )
    await settled(room)
    expect(room.changes.text()).toBe('Abcd')

    // Refused as a socket's update would be.
    await expect(room.applyLocal(new Uint8Array([0, 0, 5, 1]), null)).rejects.toBeInstanceOf(PeerError)
    // An edit that throws still commits what it did, then rejects.
    await expect(
      room.editText((t) => {
        t.insert(4, '!')
        throw new Error('half done')
      }, 'Bot'),
    ).rejects.toThrow('half done')
    await waitFor(() => room.changes.latestId === 4, 'the half-done edit to be committed')
    await waitFor(() => text.toString() === 'Abcd!', 'the client to see it')
  })

  it('applyLocal of an update too costly for one turn commits it in slices and resolves with the last id', async () => {
    const server = await start({ storage: 'memory' })
    const a = client(server.url, 'big')
    await synced(a)
    const room = server.server.rooms.get('big')!
    const heard: SequencedChange[] = []
    room.changes.subscribe((change) => heard.push(change))
    const id = await room.applyLocal(backwardsTextUpdate(7_000_004, 60_000, ROOM_TEXT), 'Importer')
    expect(heard.length).toBeGreaterThan(1)
    expect(id).toBe(heard.length)
    expect((await server.server.store.changesSince('big', 0, 0)).latest).toBe(id)
    expect(heard.every((change) => change.author === 'Importer')).toBe(true)
    await waitFor(() => a.doc.getText(ROOM_TEXT).length === 60_000, 'the client to get all of it')
    await settled(room)
    expect(heard.reduce((text, change) => applyDelta(text, change.delta), '')).toBe(
      a.doc.getText(ROOM_TEXT).toString(),
    )
  })

  it('rejects writes to a room that unloaded', async () => {
    const server = await start({ storage: 'memory', roomUnloadDelayMs: 10 })
    const a = client(server.url, 'gone')
    await synced(a)
    const room = server.server.rooms.get('gone')!
    a.destroy()
    await waitFor(() => room.destroyed, 'the room to unload')
    await expect(room.editText((t) => t.insert(0, 'x'), null)).rejects.toBeInstanceOf(RoomUnloadedError)
    await expect(room.applyLocal(new Uint8Array([0, 0]), null)).rejects.toBeInstanceOf(RoomUnloadedError)
  })
})

/** A temporary directory removed after the test. */
function makeTempDirTracked(): string {
  const { dir, cleanup } = makeTempDir()
  cleanups.push(cleanup)
  return dir
}
