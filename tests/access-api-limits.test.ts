/**
 * The access API's bounds (issue #19, class 4 and "room creation"): live revocations per room are
 * capped (409 `revocations_full`), admin requests and room creations are rate-limited per room and
 * per client address (429 `rate_limited` with Retry-After), and each limit leaves others' buckets
 * alone. Real server, SQLite in a temp dir.
 */
import { describe, expect, it } from 'vitest'
import type { ServerConfig } from '../server/index.ts'
import { SECRET, tokenFor } from './helpers/auth.ts'
import { cleanupAfterEach, startServer, type TestServer } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()

async function start(options: Partial<ServerConfig>): Promise<TestServer> {
  const server = await startServer({ authSecret: SECRET, ...options })
  cleanups.push(() => server.close())
  return server
}

/** One API call; answers status, JSON body and the Retry-After header. */
async function call(
  port: number,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
  return {
    status: response.status,
    json: (await response.json()) as Record<string, unknown>,
    retryAfter: response.headers.get('retry-after'),
  }
}

describe('access API limits', () => {
  it('caps live revocations per room with 409 revocations_full; revoking a revoked id again still answers 200', async () => {
    const server = await start({ maxRevocationsPerRoom: 3 })
    const room = 'capped'
    const admin = (await tokenFor(room, 'admin')).token
    for (const jti of ['one', 'two', 'three']) {
      const revoked = await call(server.port, 'POST', `/api/rooms/${room}/revoke`, {
        token: admin,
        body: { jti },
      })
      expect(revoked.status).toBe(200)
    }
    const full = await call(server.port, 'POST', `/api/rooms/${room}/revoke`, {
      token: admin,
      body: { jti: 'four' },
    })
    expect(full.status).toBe(409)
    expect(full.json).toEqual({ error: expect.stringContaining('3'), code: 'revocations_full' })
    const again = await call(server.port, 'POST', `/api/rooms/${room}/revoke`, {
      token: admin,
      body: { jti: 'two' },
    })
    expect(again.status).toBe(200)
    // Another room has its own allowance.
    const elsewhere = (await tokenFor('other', 'admin')).token
    expect(
      (
        await call(server.port, 'POST', '/api/rooms/other/revoke', {
          token: elsewhere,
          body: { jti: 'four' },
        })
      ).status,
    ).toBe(200)
  })

  it('rate-limits admin requests per room and per client address: 429 rate_limited with Retry-After', async () => {
    const server = await start({ adminRequestsPerMinute: 6, adminRequestBurst: 4, trustProxy: true })
    const room = 'busy'
    const admin = (await tokenFor(room, 'admin')).token
    // One room, callers at six addresses: the room's bucket runs out.
    const answers = []
    for (let i = 0; i < 6; i++) {
      answers.push(
        await call(server.port, 'POST', `/api/rooms/${room}/revoke`, {
          token: admin,
          body: { jti: `j${i}` },
          headers: { 'x-forwarded-for': `192.0.2.${i + 1}` },
        }),
      )
    }
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 429, 429])
    expect(answers[4].json).toEqual({ error: expect.stringContaining('room'), code: 'rate_limited' })
    expect(Number(answers[4].retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(answers[4].retryAfter)).toBeLessThanOrEqual(10)
    // Mode changes count against the same room's bucket.
    const mode = await call(server.port, 'PUT', `/api/rooms/${room}/mode`, {
      token: admin,
      body: { mode: 'view' },
      headers: { 'x-forwarded-for': '192.0.2.99' },
    })
    expect(mode.status).toBe(429)

    // One address, six rooms: the address's bucket runs out.
    const statuses = []
    for (let i = 0; i < 6; i++) {
      const other = `room-${i}`
      const token = (await tokenFor(other, 'admin')).token
      const link = await call(server.port, 'POST', `/api/rooms/${other}/links`, {
        token,
        body: { access: 'view' },
        headers: { 'x-forwarded-for': '198.51.100.9' },
      })
      statuses.push(link.status)
      if (link.status === 429) expect(link.json.error).toContain('address')
    }
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429])
  })

  it('rate-limits room creation per client address (X-Forwarded-For behind a trusted proxy)', async () => {
    const server = await start({ roomCreationsPerMinute: 6, roomCreationBurst: 3, trustProxy: true })
    const from = (address: string) =>
      call(server.port, 'POST', '/api/rooms', { headers: { 'x-forwarded-for': address } })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await from('203.0.113.7')).status)
    expect(statuses).toEqual([201, 201, 201, 429])
    const refused = await from('203.0.113.7')
    expect(refused.json).toEqual({ error: expect.any(String), code: 'rate_limited' })
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    // Another address has its own bucket.
    expect((await from('198.51.100.2')).status).toBe(201)
  })

  it('rate-limits room creation by default (a flood from one address is refused)', async () => {
    const server = await start({})
    const statuses = new Set<number>()
    for (let i = 0; i < 200; i++) statuses.add((await call(server.port, 'POST', '/api/rooms')).status)
    expect(statuses).toEqual(new Set([201, 429]))
  })
})
