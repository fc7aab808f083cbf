/**
 * The "Saved / N local changes waiting" status without a browser: a Yjs document, a provider that is
 * never connected, and `saved` messages built with the shared protocol encoder as the server would.
 */
import * as decoding from 'lib0/decoding'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { DELETION_MARKER_ORIGIN, trackSaves } from '../client/src/save-tracking.ts'
import {
  covers,
  formatStateVector,
  parseStateVector,
  SyncTracker,
  updateEndClocks,
} from '../client/src/sync-status.ts'
import { encodeSaved, MessageType } from '../shared/protocol/index.ts'

class NoSocket {
  constructor() {
    throw new Error('the unit test never connects')
  }
}

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

function setup(storage: Map<string, string> | null = null) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider('ws://unused', 'room', doc, {
    connect: false,
    disableBc: true,
    WebSocketPolyfill: NoSocket as unknown as typeof WebSocket,
  })
  const store = storage && {
    getItem: (key: string) => storage.get(key) ?? null,
    setItem: (key: string, value: string) => void storage.set(key, value),
  }
  const { tracker, stop } = trackSaves(doc, provider, { storage: store, storageKey: 'k' })
  cleanups.push(() => {
    stop()
    provider.destroy()
    doc.destroy()
  })
  /** Delivers a `saved` message carrying `sv` exactly as the provider would. */
  const serverSaved = (sv: Uint8Array) => {
    const decoder = decoding.createDecoder(encodeSaved(sv))
    const type = decoding.readVarUint(decoder)
    provider.messageHandlers[type](null as never, decoder, provider, true, type)
  }
  return { doc, provider, tracker, serverSaved, text: doc.getText('codemirror') }
}

describe('SyncTracker', () => {
  it('counts local changes until the server state vector covers them', () => {
    const tracker = new SyncTracker()
    const seen: number[] = []
    tracker.subscribe((s) => seen.push(s.pending))
    tracker.addLocalChange(new Map([[1, 3]]))
    tracker.addLocalChange(new Map([[1, 5]]))
    expect(tracker.state).toEqual({ pending: 2, saved: false, heardFromServer: false })
    tracker.serverSaved(new Map([[1, 3]]))
    expect(tracker.state.pending).toBe(1)
    tracker.serverHas(new Map([[1, 5]]))
    expect(tracker.state).toEqual({ pending: 0, saved: true, heardFromServer: true })
    expect(seen).toEqual([1, 2, 1, 0])
  })

  it('never lowers what the server is known to hold', () => {
    const tracker = new SyncTracker(new Map([[7, 10]]))
    tracker.serverSaved(new Map([[7, 2]]))
    expect(tracker.known.get(7)).toBe(10)
    tracker.addLocalChange(new Map([[7, 9]]))
    expect(tracker.state.saved).toBe(true)
  })

  it('round-trips state vectors through storage text and rejects garbage', () => {
    const sv = new Map([
      [1, 2],
      [3_000_000_000, 4],
    ])
    expect(parseStateVector(formatStateVector(sv))).toEqual(sv)
    expect(parseStateVector('not json')).toEqual(new Map())
    expect(parseStateVector('[["a",1],[2,3]]')).toEqual(new Map([[2, 3]]))
    expect(covers(new Map([[1, 2]]), new Map([[1, 3]]))).toBe(false)
  })
})

describe('trackSaves', () => {
  it('is Saved only after the server says it holds every local edit', () => {
    const { doc, text, tracker, serverSaved } = setup()
    text.insert(0, 'hello')
    text.insert(5, ' world')
    expect(tracker.state.pending).toBe(2)
    const afterFirst = Y.encodeStateVector(doc)
    serverSaved(Y.encodeStateVector(new Y.Doc()))
    expect(tracker.state.pending).toBe(2)
    serverSaved(afterFirst)
    expect(tracker.state).toMatchObject({ pending: 0, saved: true })
  })

  it('counts updates relayed by the server as held by it, but not other local origins', () => {
    const { doc, provider, text, tracker } = setup()
    const other = new Y.Doc()
    other.getText('codemirror').insert(0, 'remote ')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other), provider)
    expect(tracker.state.pending).toBe(0)
    text.insert(0, 'mine ')
    // An update restored from IndexedDB (origin: the persistence) is still unsaved.
    const restored = new Y.Doc()
    restored.getText('codemirror').insert(0, 'offline ')
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(restored), 'indexeddb')
    expect(tracker.state.pending).toBe(2)
    const serverDoc = new Y.Doc()
    Y.applyUpdate(serverDoc, Y.encodeStateAsUpdate(doc))
    const sv = Y.encodeStateVector(serverDoc)
    const decoder = decoding.createDecoder(encodeSaved(sv))
    decoding.readVarUint(decoder)
    provider.messageHandlers[MessageType.saved](null as never, decoder, provider, true, MessageType.saved)
    expect(tracker.state.saved).toBe(true)
  })

  it('gives a deletion a clock the server must acknowledge', async () => {
    const { doc, text, tracker, serverSaved } = setup()
    text.insert(0, 'abc')
    serverSaved(Y.encodeStateVector(doc))
    expect(tracker.state.saved).toBe(true)
    const origins: unknown[] = []
    doc.on('update', (_u: Uint8Array, origin: unknown) => origins.push(origin))
    const beforeMarker = Y.encodeStateVector(doc)
    text.delete(0, 1)
    expect(tracker.state.pending).toBe(1)
    await Promise.resolve()
    expect(origins).toEqual([null, DELETION_MARKER_ORIGIN])
    expect(tracker.state.pending).toBe(1)
    // The state vector from before the marker does not confirm the deletion...
    serverSaved(beforeMarker)
    expect(tracker.state.pending).toBe(1)
    // ...the one including it does.
    serverSaved(Y.encodeStateVector(doc))
    expect(tracker.state.saved).toBe(true)
  })

  it('remembers what the server held across visits', () => {
    const storage = new Map<string, string>()
    const first = setup(storage)
    first.text.insert(0, 'kept')
    first.serverSaved(Y.encodeStateVector(first.doc))
    const second = setup(storage)
    Y.applyUpdate(second.doc, Y.encodeStateAsUpdate(first.doc), 'indexeddb')
    expect(second.tracker.state.saved).toBe(true)
    expect(second.tracker.state.heardFromServer).toBe(false)
  })

  it('ignores a malformed saved message instead of throwing', () => {
    const { provider, tracker } = setup()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    cleanups.push(() => warn.mockRestore())
    const decoder = decoding.createDecoder(new Uint8Array([5, 1]))
    expect(() =>
      provider.messageHandlers[MessageType.saved](null as never, decoder, provider, true, 100),
    ).not.toThrow()
    expect(tracker.state.heardFromServer).toBe(false)
    expect(warn).toHaveBeenCalledOnce()
  })

  it('reads end clocks of incremental updates, not only updates starting at clock 0', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'ab')
    const sv = Y.encodeStateVector(doc)
    doc.getText('t').insert(2, 'cd')
    const incremental = Y.encodeStateAsUpdate(doc, sv)
    expect(updateEndClocks(incremental)).toEqual(new Map([[doc.clientID, 4]]))
    expect(Y.decodeStateVector(Y.encodeStateVectorFromUpdate(incremental)).size).toBe(0)
  })
})
