/**
 * Operations endpoints: `GET /metrics` (Prometheus text, parsed strictly) moves with real traffic
 * from stock y-websocket clients, and `GET /ready` answers 200 only while the store answers and
 * appends succeed, 503 with reasons otherwise and while the server closes.
 */
import { connect } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SqliteStore } from '../server/index.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import { FlakyStore } from './helpers/flaky-store.ts'
import { upgradeRequest } from './helpers/hostile.ts'
import { type MetricFamily, parsePrometheusText, sampleValue } from './helpers/prometheus-text.ts'
import { RawPeer } from './helpers/raw-peer.ts'
import {
  cleanupAfterEach,
  connectClient,
  makeTempDir,
  startServer,
  synced,
  type TestClient,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()

function track(client: TestClient): TestClient {
  cleanups.push(() => client.destroy())
  return client
}

async function scrape(port: number): Promise<Map<string, MetricFamily>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  return parsePrometheusText(await res.text())
}

async function ready(
  port: number,
): Promise<{ status: number; body: { status: string; reasons?: string[] } }> {
  const res = await fetch(`http://127.0.0.1:${port}/ready`)
  return { status: res.status, body: await res.json() }
}

const messages = (metrics: Map<string, MetricFamily>, direction: string, type: string) =>
  sampleValue(metrics, 'tandem_messages_total', { direction, type })
const bytes = (metrics: Map<string, MetricFamily>, direction: string, type: string) =>
  sampleValue(metrics, 'tandem_message_bytes_total', { direction, type })

describe('GET /metrics', () => {
  it('exposes every Tandem metric and the default process metrics, typed', async () => {
    const server = await startServer()
    cleanups.push(() => server.close())
    const metrics = await scrape(server.port)
    const types = Object.fromEntries([...metrics.values()].map((family) => [family.name, family.type]))
    expect(types).toMatchObject({
      tandem_connections: 'gauge',
      tandem_rooms_loaded: 'gauge',
      tandem_messages_total: 'counter',
      tandem_message_bytes_total: 'counter',
      tandem_update_apply_seconds: 'histogram',
      tandem_store_commit_seconds: 'histogram',
      tandem_store_commit_batch_updates: 'histogram',
      tandem_store_failures_total: 'counter',
      tandem_connections_closed_total: 'counter',
      tandem_event_loop_delay_seconds: 'gauge',
      tandem_stalls_total: 'counter',
      process_cpu_seconds_total: 'counter',
      nodejs_eventloop_lag_seconds: 'gauge',
    })
    // Every direction/type series exists from the start (rate() needs a first point).
    expect(metrics.get('tandem_messages_total')!.samples).toHaveLength(18)
  })

  it('counts connections, messages and bytes by type, applies and commits as clients edit', async () => {
    const server = await startServer()
    cleanups.push(() => server.close())
    const before = await scrape(server.port)
    const a = track(connectClient(server.url, 'counted'))
    const b = track(connectClient(server.url, 'counted'))
    await Promise.all([synced(a), synced(b)])
    for (let i = 0; i < 20; i++) a.text.insert(a.text.length, `${i} `)
    await waitFor(() => b.text.toString() === a.text.toString(), 'b to receive the edits')
    let during = await scrape(server.port)
    await waitFor(async () => {
      during = await scrape(server.port)
      return messages(during, 'out', 'sync_update') >= 20
    }, 'the relays to be counted')

    expect(sampleValue(during, 'tandem_connections')).toBe(2)
    expect(sampleValue(during, 'tandem_rooms_loaded')).toBe(1)
    expect(
      messages(during, 'in', 'sync_step1') - messages(before, 'in', 'sync_step1'),
    ).toBeGreaterThanOrEqual(2)
    expect(
      messages(during, 'out', 'sync_step1') - messages(before, 'out', 'sync_step1'),
    ).toBeGreaterThanOrEqual(2)
    expect(messages(during, 'out', 'sync_step2')).toBeGreaterThanOrEqual(2)
    expect(messages(during, 'in', 'sync_update')).toBeGreaterThanOrEqual(20)
    expect(messages(during, 'in', 'awareness')).toBeGreaterThanOrEqual(2)
    expect(messages(during, 'out', 'awareness')).toBeGreaterThanOrEqual(2)
    expect(messages(during, 'in', 'other')).toBe(0)
    // An update frame is at least its 3 header bytes plus the update.
    expect(bytes(during, 'in', 'sync_update')).toBeGreaterThan(5 * messages(during, 'in', 'sync_update'))
    expect(bytes(during, 'out', 'sync_update')).toBeGreaterThan(5 * messages(during, 'out', 'sync_update'))
    expect(sampleValue(during, 'tandem_update_apply_seconds_count')).toBeGreaterThanOrEqual(20)
    const commits = sampleValue(during, 'tandem_store_commit_seconds_count')
    expect(commits).toBeGreaterThan(sampleValue(before, 'tandem_store_commit_seconds_count'))
    expect(sampleValue(during, 'tandem_store_commit_batch_updates_count')).toBe(commits)
    expect(sampleValue(during, 'tandem_store_commit_batch_updates_sum')).toBeGreaterThanOrEqual(20)
    expect(sampleValue(during, 'tandem_store_commit_seconds_bucket', { le: '+Inf' })).toBe(commits)
    expect(sampleValue(during, 'tandem_store_failures_total')).toBe(0)

    // More traffic, more counted: the counters only grow.
    b.text.insert(0, 'from b ')
    await waitFor(() => a.text.toString().startsWith('from b'), "a to receive b's edit")
    let after = await scrape(server.port)
    await waitFor(async () => {
      after = await scrape(server.port)
      return messages(after, 'out', 'sync_update') > messages(during, 'out', 'sync_update')
    }, "the relay of b's edit to be counted")
    expect(messages(after, 'in', 'sync_update')).toBeGreaterThan(messages(during, 'in', 'sync_update'))
    expect(sampleValue(after, 'tandem_store_commit_seconds_count')).toBeGreaterThan(commits)

    a.destroy()
    b.destroy()
    await waitFor(
      async () => sampleValue(await scrape(server.port), 'tandem_connections') === 0,
      'connections to drop to 0',
    )
    const closed = await scrape(server.port)
    const closes = closed.get('tandem_connections_closed_total')!.samples.reduce((sum, s) => sum + s.value, 0)
    expect(closes).toBe(2)
  })

  it('counts the close code of a connection closed for a malformed frame', async () => {
    const server = await startServer()
    cleanups.push(() => server.close())
    const peer = new RawPeer(server.url, 'malformed')
    cleanups.push(() => peer.close())
    await peer.opened
    // Sync message with sub-type 9: not a protocol message.
    await peer.send(new Uint8Array([0, 9, 0]))
    expect(await peer.closed).toBe(CloseCode.malformedMessage)
    let metrics = await scrape(server.port)
    await waitFor(async () => {
      metrics = await scrape(server.port)
      return sampleValue(metrics, 'tandem_connections') === 0
    }, 'the connection to close')
    expect(sampleValue(metrics, 'tandem_connections_closed_total', { code: 'malformedMessage' })).toBe(1)
    expect(messages(metrics, 'in', 'other')).toBe(1)
    expect(bytes(metrics, 'in', 'other')).toBe(3)
  })

  it('keeps the metrics of two servers in one process apart', async () => {
    const one = await startServer({ storage: 'memory' })
    cleanups.push(() => one.close())
    const two = await startServer({ storage: 'memory' })
    cleanups.push(() => two.close())
    const client = track(connectClient(one.url, 'apart'))
    await synced(client)
    expect(sampleValue(await scrape(one.port), 'tandem_connections')).toBe(1)
    expect(sampleValue(await scrape(two.port), 'tandem_connections')).toBe(0)
  })
})

describe('GET /ready', () => {
  it('is 200 while the store answers, 503 with a reason while appends fail, 200 again after', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const store = new FlakyStore(new SqliteStore(join(dir, 'flaky.db')))
    const server = await startServer({ store, storeRetryMinMs: 20, storeRetryMaxMs: 50 })
    cleanups.push(() => server.close())
    // Runs before the close (cleanups run last first): a failing store would hold it.
    cleanups.push(() => {
      store.failing = false
    })
    expect(await ready(server.port)).toEqual({ status: 200, body: { status: 'ready' } })
    const health = await fetch(`http://127.0.0.1:${server.port}/health`)
    expect(health.status).toBe(200)

    const client = track(connectClient(server.url, 'flaky'))
    await synced(client)
    store.failing = true
    client.text.insert(0, 'kept in memory')
    await waitFor(() => store.failedAttempts > 0, 'an append to fail')
    const notReady = await ready(server.port)
    expect(notReady.status).toBe(503)
    expect(notReady.body.status).toBe('not ready')
    expect(notReady.body.reasons).toEqual([expect.stringMatching(/^store: the last \d+ append\(s\) failed/)])
    expect(sampleValue(await scrape(server.port), 'tandem_store_failures_total')).toBeGreaterThanOrEqual(1)

    store.failing = false
    await waitFor(async () => (await ready(server.port)).status === 200, '/ready to recover')
  })

  it('is 503 when the store does not answer its ping', async () => {
    const server = await startServer({ storage: 'memory' })
    cleanups.push(() => server.close())
    expect((await ready(server.port)).status).toBe(200)
    const store = server.server.store
    const ping = store.ping
    store.ping = () => Promise.reject(new Error('connection refused (injected)'))
    cleanups.push(() => {
      store.ping = ping
    })
    expect(await ready(server.port)).toEqual({
      status: 503,
      body: { status: 'not ready', reasons: ['store: ping failed: connection refused (injected)'] },
    })
  })

  it('is 503 while the server closes', async () => {
    const server = await startServer({ storage: 'memory' })
    let closed: Promise<void> | null = null
    cleanups.push(() => closed ?? server.close())
    // A peer that never answers the close frame keeps close() waiting (up to 2 s) on its socket.
    const mute = connect(server.port, '127.0.0.1')
    cleanups.push(() => mute.destroy())
    mute.write(upgradeRequest('/closing'))
    await new Promise<void>((resolve) => mute.once('data', () => resolve()))
    // A request whose headers are not finished yet is not idle, so close() leaves it open.
    const request = connect(server.port, '127.0.0.1')
    cleanups.push(() => request.destroy())
    let response = ''
    request.on('data', (chunk: Buffer) => {
      response += chunk.toString()
    })
    await new Promise<void>((resolve) => request.once('connect', () => resolve()))
    request.write('GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    // A round trip on another connection: the server has read those header lines by its end.
    await (await fetch(`http://127.0.0.1:${server.port}/health`)).text()
    closed = server.close()
    request.write('Connection: close\r\n\r\n')
    // The body goes out chunked: its one chunk, then the empty last chunk.
    await waitFor(() => response.endsWith('\r\n0\r\n\r\n'), 'the /ready answer')
    expect(response).toMatch(/^HTTP\/1\.1 503 /)
    expect(JSON.parse(/\{.*\}/s.exec(response)![0])).toEqual({
      status: 'not ready',
      reasons: ['closing: the server is shutting down'],
    })
  })
})
