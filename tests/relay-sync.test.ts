/** Sync through the relay with stock y-websocket clients: convergence, late joiners, room isolation, presence. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { MessageType, readAccess, readSaved, readStorage } from '../shared/protocol/index.ts'
import {
  connectClient,
  converged,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'

let server: TestServer
let clients: TestClient[]

beforeEach(async () => {
  server = await startServer()
  clients = []
})
afterEach(async () => {
  for (const client of clients) client.destroy()
  await server.close()
})

const client = (room: string, options?: Parameters<typeof connectClient>[2]) => {
  const c = connectClient(server.url, room, options)
  clients.push(c)
  return c
}

describe('relay sync', () => {
  it('two clients converge, a late joiner gets the full state, a third room is unaffected', async () => {
    const a = client('doc-1')
    const b = client('doc-1')
    const other = client('doc-2')
    await Promise.all([synced(a), synced(b), synced(other)])
    a.text.insert(0, 'hello ')
    b.text.insert(0, 'world')
    const text = await converged([a, b])
    expect(text.length).toBe('hello world'.length)
    expect(text).toContain('hello ')
    expect(text).toContain('world')

    other.text.insert(0, 'separate')
    const late = client('doc-1')
    await synced(late)
    await waitFor(() => late.text.toString() === text, 'late joiner to receive the document')
    expect(a.text.toString()).toBe(text)
    await waitFor(() => other.text.toString() === 'separate', 'room 2 to keep its own text')
    expect(other.text.toString()).toBe('separate')
  })

  it("relays awareness and removes a closed connection's states for everyone", async () => {
    const a = client('presence')
    const b = client('presence')
    await Promise.all([synced(a), synced(b)])
    a.provider.awareness.setLocalStateField('user', { name: 'Ada', color: '#f00' })
    const aId = a.doc.clientID
    await waitFor(
      () => (b.provider.awareness.getStates().get(aId) as any)?.user?.name === 'Ada',
      'B to see A',
    )
    a.provider.destroy()
    clients.splice(clients.indexOf(a), 1)
    await waitFor(() => !b.provider.awareness.getStates().has(aId), "A's cursor to disappear for B")
    // A late joiner sees no ghost either.
    const c = client('presence')
    await synced(c)
    expect(c.provider.awareness.getStates().has(aId)).toBe(false)
  })

  it('offline edits on both sides merge exactly once after reconnect', async () => {
    const a = client('offline')
    const b = client('offline')
    await Promise.all([synced(a), synced(b)])
    a.text.insert(0, 'base.')
    await converged([a, b])
    a.provider.disconnect()
    a.text.insert(a.text.length, ' offline-A')
    b.text.insert(0, 'online-B ')
    await waitFor(() => !a.text.toString().includes('online-B'), 'A to be cut off')
    a.provider.connect()
    const text = await converged([a, b], 'A and B to converge after reconnect')
    expect(text).toBe('online-B base. offline-A')
    // A fresh client from the server's copy sees the same, with each edit exactly once.
    const c = client('offline')
    await synced(c)
    await waitFor(() => c.text.toString() === text, 'fresh client to load the merged text')
  })

  it('answers /health with JSON', async () => {
    const a = client('health-room')
    await synced(a)
    const res = await fetch(`http://127.0.0.1:${server.port}/health`)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({ status: 'ok', rooms: 1, connections: 1 })
  })
})

describe('saved extension', () => {
  it('sends durable state vectors only to clients that opted in with ?tandem=1', async () => {
    const tandem = client('saved', { params: { tandem: '1' } })
    const stock = client('saved')
    const savedVectors: Uint8Array[] = []
    tandem.provider.messageHandlers[MessageType.saved] = (_encoder, decoder) => {
      savedVectors.push(readSaved(decoder))
    }
    // The other extension messages an opted-in client gets (storage state, access level).
    tandem.provider.messageHandlers[MessageType.storage] = (_encoder, decoder) => void readStorage(decoder)
    tandem.provider.messageHandlers[MessageType.access] = (_encoder, decoder) => void readAccess(decoder)
    const stockTypes = new Set<number>()
    const originalStock = stock.provider.messageHandlers.slice()
    originalStock.forEach((handler, type) => {
      stock.provider.messageHandlers[type] = (...args) => {
        stockTypes.add(type)
        return handler(...args)
      }
    })
    await Promise.all([synced(tandem), synced(stock)])
    tandem.text.insert(0, 'durable')
    stock.text.insert(0, 'also ')
    await converged([tandem, stock])
    // Edits relayed by the server are durable by construction; the ack covers the client's own.
    const ownClock = Y.decodeStateVector(Y.encodeStateVector(tandem.doc)).get(tandem.doc.clientID)!
    await waitFor(() => {
      const last = savedVectors.at(-1)
      return last !== undefined && (Y.decodeStateVector(last).get(tandem.doc.clientID) ?? 0) >= ownClock
    }, 'a saved state vector covering the local edits')
    expect([...stockTypes].every((type) => type <= MessageType.queryAwareness)).toBe(true)
    expect(stockTypes.has(MessageType.saved)).toBe(false)
  })
})
