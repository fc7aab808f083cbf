/**
 * The abuse limits through the real server: allowed origins, connections per address and in total,
 * rooms loaded, the sync deadline, per-connection document message and byte rates, HTTP header
 * timeouts, and the page's security headers. Each refuses or closes only the offender, with its
 * status or close code, and a healthy room keeps syncing.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import type { ServerConfig } from '../server/index.ts'
import { connectionsHoldingBuckets, sweepBuckets } from '../server/ws/connection.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import { api, tryUpgrade } from './helpers/auth.ts'
import { longTextUpdate, syncStep1Frame, syncUpdateFrame } from './helpers/hostile.ts'
import { RawPeer, rawHttp } from './helpers/raw-peer.ts'
import {
  cleanupAfterEach,
  closeCodes,
  connectClient,
  makeTempDir,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()

async function start(options: Partial<ServerConfig> = {}): Promise<TestServer> {
  const server = await startServer(options)
  cleanups.push(() => server.close())
  return server
}

function client(url: string, room: string, options: Parameters<typeof connectClient>[2] = {}): TestClient {
  const c = connectClient(url, room, options)
  cleanups.push(() => c.destroy())
  return c
}

function raw(url: string, path: string): RawPeer {
  const peer = new RawPeer(url, path)
  cleanups.push(() => peer.close())
  return peer
}

/** A WebSocket held open (with extra upgrade headers), closed in teardown. */
async function holdOpen(url: string, path: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(`${url}/${path}`, { headers, perMessageDeflate: false })
  cleanups.push(() => ws.terminate())
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  ws.send(syncStep1Frame())
  return ws
}

/** Two stock clients in `room` exchange an edit. */
async function roomStillSyncs(url: string, room: string, mark: string): Promise<void> {
  const a = client(url, room)
  const b = client(url, room)
  await Promise.all([synced(a), synced(b)])
  a.text.insert(0, `${mark};`)
  await waitFor(() => b.text.toString().includes(`${mark};`), `${mark} to reach the other client in ${room}`)
  a.destroy()
  b.destroy()
}

describe('upgrade limits', () => {
  it('allowed origins: another Origin gets 403 at the upgrade and at the API; listed or absent pass', async () => {
    const server = await start({ allowedOrigins: ['http://good.example'] })
    expect(await tryUpgrade(server.url, 'room', { origin: 'http://evil.example' })).toEqual({
      status: 403,
      body: 'origin not allowed',
    })
    expect(server.server.rooms.get('room')).toBeUndefined()
    expect((await tryUpgrade(server.url, 'room', { origin: 'http://good.example' })).status).toBe(101)
    expect((await tryUpgrade(server.url, 'room')).status).toBe(101)
    const created = await api(server.port, 'POST', '/api/rooms', {
      headers: { origin: 'http://evil.example' },
    })
    expect(created).toEqual({
      status: 403,
      json: { error: 'origin not allowed', code: 'origin_not_allowed' },
    })
  })

  it('connections per address (429), counted by X-Forwarded-For behind a trusted proxy, and in total (503)', async () => {
    const server = await start({ maxConnectionsPerIp: 2, maxConnections: 3, trustProxy: true })
    const first = await holdOpen(server.url, 'a', { 'x-forwarded-for': '10.0.0.1' })
    await holdOpen(server.url, 'a', { 'x-forwarded-for': '10.0.0.1, 192.168.0.1' })
    expect(await tryUpgrade(server.url, 'a', { 'x-forwarded-for': '10.0.0.1' })).toEqual({
      status: 429,
      body: 'too many connections from this address (limit 2)',
    })
    await holdOpen(server.url, 'b', { 'x-forwarded-for': '10.0.0.2' })
    expect(await tryUpgrade(server.url, 'b', { 'x-forwarded-for': '10.0.0.3' })).toEqual({
      status: 503,
      body: 'too many connections to this server',
    })
    first.close()
    await waitFor(() => server.server.connectionCount === 2, 'the closed connection to free its slot')
    await waitFor(
      async () => (await tryUpgrade(server.url, 'a', { 'x-forwarded-for': '10.0.0.1' })).status === 101,
      'a new connection from 10.0.0.1 once one closed',
    )
  })

  it('rooms loaded: an upgrade to another room gets 503, loaded rooms keep accepting', async () => {
    const server = await start({ maxRoomsLoaded: 2 })
    await holdOpen(server.url, 'one')
    await holdOpen(server.url, 'two')
    await waitFor(() => server.server.rooms.size === 2, 'two rooms loaded')
    expect(await tryUpgrade(server.url, 'three')).toEqual({ status: 503, body: 'too many rooms loaded' })
    expect(server.server.rooms.get('three')).toBeUndefined()
    await roomStillSyncs(server.url, 'one', 'still open')
  })
})

describe('per-connection limits', () => {
  it('sync deadline: a connection that sends no sync message is closed with 4508 and its room unloads', async () => {
    const server = await start({ syncDeadlineMs: 300 })
    const healthy = client(server.url, 'healthy')
    const healthyCodes = closeCodes(healthy)
    await synced(healthy)
    const silent = raw(server.url, 'silent')
    await silent.opened
    expect(await silent.closedWithin(10_000)).toBe(CloseCode.syncTimeout)
    await waitFor(() => server.server.rooms.get('silent') === undefined, 'the silent room to unload')
    expect(healthy.provider.wsconnected).toBe(true)
    expect(healthyCodes).toEqual([])
    await roomStillSyncs(server.url, 'healthy', 'after deadline')
  })

  it('document message rate: a flood is closed with 4529 and what came after the limit is not applied; a 1 MB paste passes', async () => {
    const server = await start({ documentMessagesPerSecond: 20, documentMessageBurst: 40 })
    const source = new Y.Doc()
    const frames: Uint8Array[] = []
    source.on('update', (update: Uint8Array) => frames.push(syncUpdateFrame(update)))
    for (let i = 0; i < 300; i++) source.getText('text').insert(i, 'x')
    const flooder = raw(server.url, 'flooded')
    await flooder.opened
    await flooder.send(syncStep1Frame())
    for (const frame of frames) void flooder.send(frame)
    expect(await flooder.closedWithin(10_000)).toBe(CloseCode.rateLimited)
    expect(flooder.closeReason).toContain('document messages per second')
    const applied = server.server.rooms.get('flooded')?.doc.getText('text').length ?? 0
    expect(applied).toBeGreaterThanOrEqual(40)
    expect(applied).toBeLessThan(300)

    const paster = client(server.url, 'paste')
    const reader = client(server.url, 'paste')
    const codes = closeCodes(paster)
    await Promise.all([synced(paster), synced(reader)])
    paster.text.insert(0, 'p'.repeat(1024 * 1024))
    await waitFor(() => reader.text.length === 1024 * 1024, 'the 1 MB paste to reach the other client')
    expect(codes).toEqual([])
  })

  it('document byte rate: past the burst (one max frame) and the rate, 4529; nothing of the refused update lands', async () => {
    const server = await start({ maxDocumentBytes: 1024 * 1024, documentBytesPerSecond: 1024 })
    const healthy = client(server.url, 'healthy')
    await synced(healthy)
    const sender = raw(server.url, 'bytes')
    await sender.opened
    await sender.send(syncStep1Frame())
    for (let i = 0; i < 11; i++) void sender.send(syncUpdateFrame(longTextUpdate(1000 + i, 100_000)))
    expect(await sender.closedWithin(10_000)).toBe(CloseCode.rateLimited)
    expect(sender.closeReason).toContain('document bytes per second')
    expect(server.server.rooms.get('bytes')?.doc.getText('text').length).toBe(10 * 100_000)
    await roomStillSyncs(server.url, 'healthy', 'after the byte flood')
  })
})

describe('rate buckets made on demand and forgotten when full', () => {
  /** `count` sync-update frames, one inserted character each. */
  function updateFrames(count: number): Uint8Array[] {
    const source = new Y.Doc()
    const frames: Uint8Array[] = []
    source.on('update', (update: Uint8Array) => frames.push(syncUpdateFrame(update)))
    for (let i = 0; i < count; i++) source.getText('text').insert(i, 'x')
    return frames
  }

  it('a drained bucket outlives the sweep: the next message past the burst is still refused (4529)', async () => {
    // One message per 100 s: nothing refills during the test.
    const server = await start({ documentMessagesPerSecond: 0.01, documentMessageBurst: 3 })
    const frames = updateFrames(4)
    const sender = raw(server.url, 'drained')
    await sender.opened
    await sender.send(syncStep1Frame())
    for (const frame of frames.slice(0, 3)) await sender.send(frame)
    const text = () => server.server.rooms.get('drained')?.doc.getText('text').length ?? 0
    await waitFor(() => text() === 3, 'the burst to be applied')
    sweepBuckets()
    await sender.send(frames[3])
    expect(await sender.closedWithin(10_000)).toBe(CloseCode.rateLimited)
    expect(sender.closeReason).toContain('document messages per second')
    expect(text()).toBe(3)
  })

  it('a quiet connection holds no bucket, and a flood after the quiet is refused as before', async () => {
    const server = await start({ documentMessagesPerSecond: 20, documentMessageBurst: 40 })
    const quiet = client(server.url, 'quiet')
    const sender = raw(server.url, 'later')
    await sender.opened
    await sender.send(syncStep1Frame())
    await synced(quiet)
    await waitFor(() => {
      sweepBuckets()
      return connectionsHoldingBuckets() === 0
    }, 'every quiet connection to hold no bucket')
    for (const frame of updateFrames(300)) void sender.send(frame)
    expect(await sender.closedWithin(10_000)).toBe(CloseCode.rateLimited)
    const applied = server.server.rooms.get('later')?.doc.getText('text').length ?? 0
    expect(applied).toBeGreaterThanOrEqual(40)
    expect(applied).toBeLessThan(300)
    expect(quiet.provider.wsconnected).toBe(true)
  })
})

describe('HTTP', () => {
  it('a request whose headers do not arrive within headersTimeoutMs is answered 408 and closed', async () => {
    const server = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 })
    const result = await rawHttp(server.port, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 10_000)
    expect(result.status).toBe(408)
    const upgrade = await rawHttp(
      server.port,
      'GET /room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n',
      10_000,
    )
    expect(upgrade.status).toBe(408)
    expect((await fetch(`http://127.0.0.1:${server.port}/health`)).status).toBe(200)
  })

  it('serves the page with a Content-Security-Policy, nosniff and no-referrer', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>')
    const server = await start({ staticDir: dir })
    const response = await fetch(`http://127.0.0.1:${server.port}/r/some-room`)
    expect(response.status).toBe(200)
    const csp = response.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port} wss://127.0.0.1:${server.port}`)
    expect(csp).not.toMatch(/script-src[^;]*unsafe/)
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('referrer-policy')).toBe('no-referrer')
  })
})
