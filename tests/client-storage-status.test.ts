/**
 * The server's storage state without a browser: a provider that is never connected, `storage`
 * messages built with the shared protocol encoder as the server would, and the banner text.
 */
import * as decoding from 'lib0/decoding'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { storageWarning } from '../client/src/status-view.ts'
import { type ServerStorageState, watchServerStorage } from '../client/src/storage-status.ts'
import { encodeStorage, MessageType, StorageState, type StorageStateValue } from '../shared/protocol/index.ts'

class NoSocket {
  constructor() {
    throw new Error('the unit test never connects')
  }
}

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

function setup() {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider('ws://unused', 'room', doc, {
    connect: false,
    disableBc: true,
    WebSocketPolyfill: NoSocket as unknown as typeof WebSocket,
  })
  const status = watchServerStorage(provider)
  const seen: ServerStorageState[] = []
  status.subscribe((state) => seen.push(state))
  cleanups.push(() => {
    status.stop()
    provider.destroy()
    doc.destroy()
  })
  /** Delivers the frame `bytes` to the provider's handler for its type, as the provider would. */
  const deliver = (bytes: Uint8Array) => {
    const decoder = decoding.createDecoder(bytes)
    const type = decoding.readVarUint(decoder)
    provider.messageHandlers[type](null as never, decoder, provider, true, type)
  }
  const serverSays = (state: StorageStateValue) => deliver(encodeStorage(state))
  /** What the provider emits when its socket closes (for any reason). */
  const socketCloses = () => provider.emit('connection-close', [null, provider])
  return { provider, status, seen, deliver, serverSays, socketCloses }
}

describe('watchServerStorage', () => {
  it('is unknown until the server speaks, then follows what it says', () => {
    const { status, seen, serverSays } = setup()
    expect(status.state).toBe('unknown')
    serverSays(StorageState.failing)
    expect(status.state).toBe('failing')
    serverSays(StorageState.failing)
    serverSays(StorageState.ok)
    expect(status.state).toBe('ok')
    expect(seen).toEqual(['failing', 'ok'])
  })

  it('forgets the state when the socket closes: a reconnect hears it again', () => {
    const { status, seen, serverSays, socketCloses } = setup()
    serverSays(StorageState.failing)
    socketCloses()
    expect(status.state).toBe('unknown')
    serverSays(StorageState.failing)
    expect(seen).toEqual(['failing', 'unknown', 'failing'])
  })

  it('reads the frame exactly as the server encodes it', () => {
    expect([...encodeStorage(StorageState.failing)]).toEqual([MessageType.storage, 1])
    const { status, deliver } = setup()
    deliver(new Uint8Array([101, 1]))
    expect(status.state).toBe('failing')
    deliver(new Uint8Array([101, 0]))
    expect(status.state).toBe('ok')
  })

  it('ignores a truncated storage message instead of throwing', () => {
    const { status, deliver } = setup()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    cleanups.push(() => warn.mockRestore())
    expect(() => deliver(new Uint8Array([101]))).not.toThrow()
    expect(status.state).toBe('unknown')
    expect(warn).toHaveBeenCalledOnce()
  })

  it('stops listening: no handler left, closes no longer reported', () => {
    const { provider, status, seen, serverSays, socketCloses } = setup()
    serverSays(StorageState.failing)
    status.stop()
    expect(provider.messageHandlers[MessageType.storage]).toBeUndefined()
    socketCloses()
    expect(seen).toEqual(['failing'])
  })
})

describe('storage warning text', () => {
  it('warns only while failing, saying that edits are kept', () => {
    expect(storageWarning('unknown')).toBeNull()
    expect(storageWarning('ok')).toBeNull()
    const warning = storageWarning('failing')!
    expect(warning.lead).toBe('Not saving:')
    expect(warning.detail).toMatch(/cannot store changes.*kept in this browser/)
  })
})
