/**
 * The committed-change seam (server/rooms/room-changes.ts), the one a change feed builds on: a
 * listener on a real server's room hears every change once, in the order the room applied it, only
 * after the store holds it, with who made it and a text delta; deltas compose into the room's text,
 * also when another instance's change lands while one of the room's own is still being written.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { TEXT_NAME } from '../client/src/editor.ts'
import { BusKind } from '../server/fanout/bus-message.ts'
import { MemoryStore } from '../server/index.ts'
import type { CommittedChange, Room, TextDelta } from '../server/rooms/room.ts'
import { ROOM_TEXT } from '../server/rooms/room-changes.ts'
import { FlakyStore } from './helpers/flaky-store.ts'
import { cleanupAfterEach, synced, type TestServer, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const { start, client } = tracked(cleanups)

/** What a listener saw of one change, and whether the store held it at that moment. */
interface Heard {
  change: CommittedChange
  durable: boolean
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0

/** Applies a text delta (retain / insert / delete runs) to `text`. */
function applyDelta(text: string, delta: TextDelta): string {
  let out = ''
  let at = 0
  for (const op of delta) {
    if (op.retain !== undefined) {
      out += text.slice(at, at + op.retain)
      at += op.retain
    } else if (op.delete !== undefined) at += op.delete
    else if (typeof op.insert === 'string') out += op.insert
  }
  return out + text.slice(at)
}

/** A real server whose store records what it has durably appended. */
async function startRecorded(): Promise<{ server: TestServer; store: FlakyStore }> {
  const store = new FlakyStore(new MemoryStore())
  const server = await start({ store })
  return { server, store }
}

/** Subscribes to `room`'s changes, noting for each whether the store held it when it was heard. */
function listen(room: Room, store: FlakyStore): Heard[] {
  const heard: Heard[] = []
  room.onCommittedChange((change) => {
    const durable = store.appended.some((entry) => sameBytes(entry.update, change.update))
    heard.push({ change, durable })
  })
  return heard
}

describe('committed changes', () => {
  it('the seam edits the text the browser client edits', () => {
    expect(ROOM_TEXT).toBe(TEXT_NAME)
  })

  it('hears each change once, in order, after the store holds it, with who made it and its text delta', async () => {
    const { server, store } = await startRecorded()
    // Each append takes a while, so a change heard before it is durable would show.
    store.delayMs = 5
    const a = client(server.url, 'notes')
    const b = client(server.url, 'notes')
    await Promise.all([synced(a), synced(b)])
    const textA = a.doc.getText(ROOM_TEXT)
    const textB = b.doc.getText(ROOM_TEXT)
    textA.insert(0, 'hello')
    await waitFor(() => textB.toString() === 'hello', 'b to see the first edit (stored by then)')
    // Subscribed with nothing in flight: every change from here on is heard.
    const room = server.server.rooms.get('notes')!
    const heard = listen(room, store)
    const before = store.appended.length
    expect(before).toBe(1)

    textA.insert(5, ' world')
    textB.delete(0, 1)
    textB.insert(0, 'H')
    a.doc.getMap('meta').set('title', 'greeting')
    await waitFor(() => textA.toString() === textB.toString(), 'a and b to converge')
    await waitFor(() => heard.length === store.appended.length - before, 'every stored change to be heard')

    // Once each, in the order stored (the order this room applied them), each after it was stored.
    const stored = store.appended.slice(before).map((entry) => entry.update)
    expect(heard.map(({ change }) => change.update)).toEqual(stored)
    expect(heard.every(({ durable }) => durable)).toBe(true)
    // Who: both members of this room, no one else.
    const from = new Set(heard.map(({ change }) => change.from))
    expect(from.has('remote')).toBe(false)
    expect(from.size).toBe(2)
    // The deltas compose into the text; the map change changed no text.
    let text = 'hello'
    for (const { change } of heard) text = applyDelta(text, change.textDelta)
    expect(text).toBe(textA.toString())
    expect(text).toBe('Hello world')
    expect(heard.some(({ change }) => change.textDelta.length === 0)).toBe(true)
  })

  it("hears another instance's change after its own still being written, in the order applied", async () => {
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
    await waitFor(() => heard.length === 2, 'both changes to be heard')

    expect(heard[0].durable).toBe(true)
    expect(heard[0].change.from).not.toBe('remote')
    expect(heard[1].change.from).toBe('remote')
    const textA = a.doc.getText(ROOM_TEXT)
    await waitFor(() => textA.length === 12, 'the remote change to reach a')
    const text = heard.reduce((text, { change }) => applyDelta(text, change.textDelta), '')
    expect(text).toBe(textA.toString())
  })

  it('stops hearing once unsubscribed', async () => {
    const { server } = await startRecorded()
    const a = client(server.url, 'quiet')
    await synced(a)
    const room = server.server.rooms.get('quiet')!
    const heard: CommittedChange[] = []
    const unsubscribe = room.onCommittedChange((change) => heard.push(change))
    a.doc.getText(ROOM_TEXT).insert(0, 'one')
    await waitFor(() => heard.length === 1, 'the first change to be heard')
    unsubscribe()
    a.doc.getText(ROOM_TEXT).insert(3, ' two')
    const applied = () => Y.decodeStateVector(Y.encodeStateVector(room.doc)).get(a.doc.clientID) ?? 0
    await waitFor(() => applied() === 7, 'the second change to be applied')
    // A later listener hears the third change only after the second was delivered (in order).
    const later: CommittedChange[] = []
    room.onCommittedChange((change) => later.push(change))
    a.doc.getText(ROOM_TEXT).insert(7, '!')
    await waitFor(() => later.length === 1, 'the third change to be heard')
    expect(heard).toHaveLength(1)
  })
})
