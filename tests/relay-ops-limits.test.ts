/**
 * Operational limits an outside attacker probed (issue #19): the rooms-loaded cap under upgrades
 * that arrive together while authentication and loads are slow (PostgreSQL), the cap on plain HTTP
 * sockets (in total and per address), and the monitoring endpoints: kept private by a token or a
 * second port, and read without resetting what another reader sees.
 */
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { ServerConfig } from '../server/index.ts'
import { SECRET, tokenFor } from './helpers/auth.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { parsePrometheusText, sampleValue } from './helpers/prometheus-text.ts'
import {
  cleanupAfterEach,
  connectClient,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const pgSkip = await postgresSkipReason()

async function start(options: Partial<ServerConfig> = {}): Promise<TestServer> {
  const server = await startServer(options)
  cleanups.push(() => server.close())
  return server
}

function client(url: string, room: string): TestClient {
  const c = connectClient(url, room)
  cleanups.push(() => c.destroy())
  return c
}

/** Upgrades to `path` and keeps the socket open when it opens; resolves with the status (101 when opened). */
function upgradeAndHold(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/${path}`, { perMessageDeflate: false })
    cleanups.push(() => ws.terminate())
    ws.once('open', () => resolve(101))
    ws.once('unexpected-response', (_req, res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    ws.once('error', reject)
  })
}

/** A TCP socket to 127.0.0.1:`port` (from `localAddress`), connected, destroyed in teardown. */
async function tcp(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  cleanups.push(() => socket.destroy())
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  return socket
}

/** Resolves true once the server closes `socket`, false if it is still open after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
    socket.resume()
  })
}

/** GET `path` on 127.0.0.1:`port` over a fresh socket (from `localAddress`); status and body, or an error. */
function get(
  port: number,
  path: string,
  options: { localAddress?: string; token?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        localAddress: options.localAddress,
        agent: false,
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        let body = ''
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.setTimeout(3_000, () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end()
  })
}

/** Blocks this thread (and an in-process server's event loop) for `ms`. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

describe.skipIf(pgSkip)('rooms-loaded cap with slow authentication and loads (PostgreSQL)', () => {
  it('holds exactly under 30 simultaneous upgrades to distinct rooms; the others get 503', async () => {
    const schema = freshSchemaName()
    cleanups.push(() => dropSchema(schema))
    const server = await start({
      databaseUrl: TEST_DATABASE_URL,
      databaseSchema: schema,
      authSecret: SECRET,
      maxRoomsLoaded: 3,
    })
    const paths = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const { token } = await tokenFor(`burst-${i}`, 'edit')
        return `burst-${i}?token=${token}`
      }),
    )
    let peak = 0
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.server.rooms.openCount)
    }, 1)
    cleanups.push(() => clearInterval(sampler))
    const statuses = await Promise.all(paths.map((path) => upgradeAndHold(server.url, path)))
    const opened = statuses.filter((status) => status === 101).length
    // Every opened socket holds its room: wait until they have all loaded.
    await waitFor(() => server.server.rooms.size === opened, 'the admitted rooms to load')
    clearInterval(sampler)
    expect(opened).toBe(3)
    expect(statuses.filter((status) => status === 503)).toHaveLength(27)
    expect(peak).toBeLessThanOrEqual(3)
    expect(server.server.rooms.size).toBe(3)
  })
})

describe('HTTP connection caps', () => {
  it('closes sockets past maxHttpConnections; /health answers again once they go; WebSockets keep working', async () => {
    const server = await start({ storage: 'memory', maxHttpConnections: 5 })
    const a = client(server.url, 'kept')
    const b = client(server.url, 'kept')
    await Promise.all([synced(a), synced(b)])
    const held = await Promise.all(Array.from({ length: 5 }, () => tcp(server.port)))
    const extra = await tcp(server.port)
    expect(await closedWithin(extra, 2_000)).toBe(true)
    await expect(get(server.port, '/health')).rejects.toThrow()
    // Sockets that became WebSockets are not HTTP sockets: the room still syncs.
    a.text.insert(0, 'through the flood')
    await waitFor(() => b.text.toString() === 'through the flood', 'an edit to reach the other client')
    for (const socket of held) expect(socket.destroyed).toBe(false)
    for (const socket of held) socket.destroy()
    await waitFor(
      async () => (await get(server.port, '/health').catch(() => ({ status: 0 }))).status === 200,
      '/health to answer once the held sockets are gone',
    )
  })

  it('closes sockets past maxHttpConnectionsPerIp from one address; another address still gets in', async () => {
    const server = await start({ storage: 'memory', maxHttpConnectionsPerIp: 3 })
    await Promise.all(Array.from({ length: 3 }, () => tcp(server.port)))
    expect(await closedWithin(await tcp(server.port), 2_000)).toBe(true)
    expect((await get(server.port, '/health', { localAddress: '127.0.0.2' })).status).toBe(200)
  })

  it('closes idle keep-alive sockets after keepAliveTimeoutMs', async () => {
    const server = await start({ storage: 'memory', keepAliveTimeoutMs: 200 })
    const socket = await tcp(server.port)
    socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    expect(await closedWithin(socket, 3_000)).toBe(true)
  })
})

describe('monitoring endpoints', () => {
  it('/health does not reset the event-loop maximum: two callers both see a stall', async () => {
    const server = await start({ storage: 'memory' })
    await get(server.port, '/health')
    blockEventLoop(300)
    // Let the loop-delay monitor record the late tick.
    await new Promise((resolve) => setTimeout(resolve, 50))
    for (const caller of ['first', 'second']) {
      const health = JSON.parse((await get(server.port, '/health')).body)
      expect(health.eventLoop.maxDelayMs, `${caller} caller`).toBeGreaterThanOrEqual(250)
    }
    for (const scraper of ['first', 'second']) {
      const metrics = parsePrometheusText((await get(server.port, '/metrics')).body)
      const max = sampleValue(metrics, 'tandem_event_loop_delay_seconds', { stat: 'max' })
      expect(max, `${scraper} scraper`).toBeGreaterThanOrEqual(0.25)
    }
  })

  it('with monitorToken: /metrics needs the bearer token, /health shows only its status without it', async () => {
    const token = 'monitor-token-0123456789'
    const server = await start({ storage: 'memory', monitorToken: token })
    expect((await get(server.port, '/metrics')).status).toBe(401)
    expect((await get(server.port, '/metrics', { token: 'wrong-token-0123456789' })).status).toBe(401)
    const metrics = await get(server.port, '/metrics', { token })
    expect(metrics.status).toBe(200)
    expect(metrics.body).toContain('tandem_connections')
    const open = await get(server.port, '/health')
    expect(open.status).toBe(200)
    expect(JSON.parse(open.body)).toEqual({ status: 'ok' })
    const detailed = JSON.parse((await get(server.port, '/health', { token })).body)
    expect(detailed).toMatchObject({ status: 'ok', rooms: 0, connections: 0 })
    expect(detailed.eventLoop.maxDelayMs).toEqual(expect.any(Number))
  })

  it('with monitorPort: the public port serves no /metrics and a bare /health; the monitor port serves both', async () => {
    const server = await start({ storage: 'memory', monitorPort: 0 })
    const monitorPort = server.server.monitorPort
    expect(monitorPort).toEqual(expect.any(Number))
    expect(monitorPort).not.toBe(server.port)
    expect((await get(server.port, '/metrics')).status).toBe(404)
    expect(JSON.parse((await get(server.port, '/health')).body)).toEqual({ status: 'ok' })
    const metrics = await get(monitorPort!, '/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.body).toContain('tandem_rooms_loaded')
    expect(JSON.parse((await get(monitorPort!, '/health')).body)).toMatchObject({ status: 'ok', rooms: 0 })
    expect((await get(monitorPort!, '/ready')).status).toBe(200)
    // The monitor port is not the relay: no upgrades, no static client.
    expect(await upgradeAndHold(`ws://127.0.0.1:${monitorPort}`, 'room').catch(() => 0)).not.toBe(101)
  })
})
