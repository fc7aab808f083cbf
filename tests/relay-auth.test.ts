/**
 * Access control through the real server (SQLite in a temp dir) and stock y-websocket providers:
 * tokens refused at the upgrade with their status and reason, view links that read but cannot
 * write, live revocation and mode changes, expiry during a session, the access API's checks, and
 * revocations and modes that survive a restart. Each refusal leaves other rooms undisturbed.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { ServerConfig } from '../server/index.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import { accessMessages, api, SECRET, tokenFor, tryUpgrade } from './helpers/auth.ts'
import { longTextUpdate, syncStep1Frame, syncUpdateFrame } from './helpers/hostile.ts'
import { RawPeer } from './helpers/raw-peer.ts'
import {
  cleanupAfterEach,
  closeCodes,
  connectClient,
  makeTempDir,
  startServer,
  synced,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'

const cleanups = cleanupAfterEach()

async function start(options: Partial<ServerConfig> & { db?: string } = {}): Promise<TestServer> {
  const server = await startServer({ authSecret: SECRET, ...options })
  cleanups.push(() => server.close())
  return server
}

function client(url: string, room: string, token: string, options: Parameters<typeof connectClient>[2] = {}) {
  const c = connectClient(url, room, { ...options, params: { token, ...options.params } })
  cleanups.push(() => c.destroy())
  return c
}

function raw(url: string, path: string): RawPeer {
  const peer = new RawPeer(url, path)
  cleanups.push(() => peer.close())
  return peer
}

/** A room with two edit clients that exchange an edit both ways (the healthy neighbour). */
async function healthyRoom(server: TestServer, room = 'healthy') {
  const { token } = await tokenFor(room, 'edit')
  const a = client(server.url, room, token)
  const b = client(server.url, room, token)
  await Promise.all([synced(a), synced(b)])
  return {
    async stillSyncs(mark: string) {
      a.text.insert(0, `${mark};`)
      await waitFor(() => b.text.toString().includes(`${mark};`), `${mark} to reach the healthy room's peer`)
    },
  }
}

const roomText = (server: TestServer, room: string) =>
  server.server.rooms.get(room)?.doc.getText('text').toString()

describe('tokens at the upgrade', () => {
  it('refuses missing, malformed, badly signed, expired, too long-lived and other-room tokens with one-line reasons', async () => {
    const server = await start()
    const healthy = await healthyRoom(server)
    const room = 'guarded'
    const cases: Array<[string, string | null, number, string]> = [
      ['missing', null, 401, 'token required'],
      ['malformed', 'not-a-jwt', 401, 'token is malformed'],
      [
        'bad signature',
        (await tokenFor(room, 'edit', { secret: 'another-secret-0123456789-abcdefghij' })).token,
        401,
        'token signature is invalid',
      ],
      [
        'expired',
        (await tokenFor(room, 'edit', { ttlSeconds: 60, now: Date.now() - 120_000 })).token,
        401,
        'token expired',
      ],
      [
        'too long-lived',
        (await tokenFor(room, 'edit', { ttlSeconds: 400 * 86_400 })).token,
        401,
        'token lives longer than this server accepts',
      ],
      ['other room', (await tokenFor('elsewhere', 'admin')).token, 403, 'token is for another room'],
    ]
    for (const [what, token, status, reason] of cases) {
      const path = token === null ? room : `${room}?token=${encodeURIComponent(token)}`
      expect(await tryUpgrade(server.url, path), what).toEqual({ status, body: reason })
    }
    // Nothing was loaded for the refused room; the neighbour kept working.
    expect(server.server.rooms.get(room)).toBeUndefined()
    await healthy.stillSyncs('after refusals')
    const { token } = await tokenFor(room, 'view')
    expect((await tryUpgrade(server.url, `${room}?token=${token}`)).status).toBe(101)
  })
})

describe('view access', () => {
  it('receives the document and live edits, but a write closes it with 4403 and lands nowhere', async () => {
    const server = await start()
    const healthy = await healthyRoom(server)
    const room = 'viewed'
    const editor = client(server.url, room, (await tokenFor(room, 'edit')).token)
    await synced(editor)
    editor.text.insert(0, 'hello world')
    editor.text.delete(0, 6) // a delete set, which every later step 2 carries
    await waitFor(() => roomText(server, room) === 'world', 'the edit to reach the server')

    // A fresh viewer (empty step 2) and one that already holds the whole document (non-empty but
    // known step 2) both sync and stay.
    const viewToken = (await tokenFor(room, 'view')).token
    const fresh = client(server.url, room, viewToken)
    const knownDoc = new Y.Doc()
    Y.applyUpdate(knownDoc, Y.encodeStateAsUpdate(editor.doc))
    const known = client(server.url, room, viewToken, { doc: knownDoc })
    const freshCodes = closeCodes(fresh)
    const knownCodes = closeCodes(known)
    await Promise.all([synced(fresh), synced(known)])
    expect(fresh.text.toString()).toBe('world')
    editor.text.insert(5, '!')
    await waitFor(
      () => fresh.text.toString() === 'world!' && known.text.toString() === 'world!',
      'live edits',
    )
    // Their awareness is relayed (and was handled after their step 2, on the same connection).
    fresh.provider.awareness.setLocalStateField('user', { name: 'viewer' })
    await waitFor(
      () => [...editor.provider.awareness.getStates().values()].some((s) => s.user?.name === 'viewer'),
      "the viewer's presence to reach the editor",
    )
    expect(fresh.provider.wsconnected && known.provider.wsconnected).toBe(true)
    expect([...freshCodes, ...knownCodes]).toEqual([])

    fresh.text.insert(0, 'vandal ')
    await waitFor(() => freshCodes.includes(CloseCode.forbidden), 'the viewer to be closed with 4403')
    editor.text.insert(0, '>')
    await waitFor(() => known.text.toString() === '>world!', 'a later edit to reach the other viewer')
    expect(roomText(server, room)).toBe('>world!')
    expect(editor.text.toString()).toBe('>world!')
    await healthy.stillSyncs('after 4403')
  })
})

describe('live permission changes', () => {
  it('revoking a token closes its open connection with 4410 at once and refuses it afterwards', async () => {
    const server = await start()
    const healthy = await healthyRoom(server)
    const created = await api(server.port, 'POST', '/api/rooms', { body: {} })
    expect(created.status).toBe(201)
    const { room, token: adminToken } = created.json as { room: string; token: string }
    const link = await api(server.port, 'POST', `/api/rooms/${room}/links`, {
      token: adminToken,
      body: { access: 'edit', ttlSeconds: 600 },
    })
    expect(link.status).toBe(201)
    const { token, jti } = link.json as { token: string; jti: string }
    const editor = client(server.url, room, token)
    const codes = closeCodes(editor)
    await synced(editor)

    const revoked = await api(server.port, 'POST', `/api/rooms/${room}/revoke`, {
      token: adminToken,
      body: { jti },
    })
    expect(revoked).toEqual({ status: 200, json: { revoked: jti, closed: 1 } })
    await waitFor(() => codes.includes(CloseCode.revoked), 'the revoked connection to close with 4410')
    expect(await tryUpgrade(server.url, `${room}?token=${token}`)).toEqual({
      status: 401,
      body: 'token revoked',
    })
    const access = await api(server.port, 'GET', `/api/rooms/${room}/access`, { token })
    expect(access).toEqual({ status: 401, json: { error: 'token revoked', code: 'token_revoked' } })
    await healthy.stillSyncs('after revoke')
  })

  it('switching the room to view tells open connections; a write then closes 4403; edit mode restores writing', async () => {
    const server = await start()
    const room = 'moded'
    const admin = (await tokenFor(room, 'admin')).token
    const edit = (await tokenFor(room, 'edit')).token
    const peer = raw(server.url, `${room}?tandem=1&token=${edit}`)
    await peer.opened
    await peer.send(syncStep1Frame())
    await waitFor(() => accessMessages(peer.received).length === 1, 'the access message after join')
    expect(accessMessages(peer.received)).toEqual(['edit'])

    expect(
      await api(server.port, 'PUT', `/api/rooms/${room}/mode`, { token: admin, body: { mode: 'view' } }),
    ).toEqual({
      status: 200,
      json: { mode: 'view' },
    })
    await waitFor(
      () => accessMessages(peer.received).length === 2,
      'the access message after the mode change',
    )
    expect(accessMessages(peer.received)).toEqual(['edit', 'view'])
    const viewAccess = await api(server.port, 'GET', `/api/rooms/${room}/access`, { token: edit })
    expect(viewAccess.json).toMatchObject({ access: 'edit', effectiveAccess: 'view', mode: 'view' })

    await peer.send(syncUpdateFrame(longTextUpdate(77, 10)))
    expect(await peer.closedWithin(10_000)).toBe(CloseCode.forbidden)
    expect(roomText(server, room)).toBe('')

    // Admins keep editing in view mode.
    const adminClient = client(server.url, room, admin)
    await synced(adminClient)
    adminClient.text.insert(0, 'admin note')
    await waitFor(() => roomText(server, room) === 'admin note', "the admin's edit in view mode")

    await api(server.port, 'PUT', `/api/rooms/${room}/mode`, { token: admin, body: { mode: 'edit' } })
    const writer = client(server.url, room, edit)
    const codes = closeCodes(writer)
    await synced(writer)
    writer.text.insert(0, 'back: ')
    await waitFor(() => roomText(server, room) === 'back: admin note', 'a write after edit mode returned')
    expect(codes).toEqual([])
  })

  it('a token that expires during the session closes its connection with 4401', async () => {
    const server = await start()
    const healthy = await healthyRoom(server)
    const room = 'short-lived'
    // Long enough to sync first on a loaded machine (a token already expired at the upgrade is a
    // 401 there, another path), short enough to wait out.
    const editor = client(server.url, room, (await tokenFor(room, 'edit', { ttlSeconds: 4 })).token)
    const codes = closeCodes(editor)
    await synced(editor)
    await waitFor(
      () => codes.includes(CloseCode.tokenExpired),
      'the connection to close at its expiry with 4401',
      20_000,
    )
    expect(codes).toEqual([CloseCode.tokenExpired])
    await healthy.stillSyncs('after expiry')
  })

  it('revocations and the mode survive a restart on the same database', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const room = 'durable-policy'
    const admin = (await tokenFor(room, 'admin')).token
    const edit = await tokenFor(room, 'edit')
    const first = await startServer({ authSecret: SECRET, db })
    await api(first.port, 'POST', `/api/rooms/${room}/revoke`, { token: admin, body: { jti: edit.jti } })
    await api(first.port, 'PUT', `/api/rooms/${room}/mode`, { token: admin, body: { mode: 'view' } })
    await first.close()

    const second = await start({ db })
    expect(await tryUpgrade(second.url, `${room}?token=${edit.token}`)).toEqual({
      status: 401,
      body: 'token revoked',
    })
    const other = (await tokenFor(room, 'edit')).token
    const access = await api(second.port, 'GET', `/api/rooms/${room}/access`, { token: other })
    expect(access.json).toMatchObject({ mode: 'view', effectiveAccess: 'view' })
  })
})

describe('access API', () => {
  it('describes a token, refuses bad ones by kind, and lets only admins mint, revoke and set the mode', async () => {
    const server = await start()
    const room = 'api-room'
    const view = await tokenFor(room, 'view')
    const edit = (await tokenFor(room, 'edit')).token
    const described = await api(server.port, 'GET', `/api/rooms/${room}/access`, { token: view.token })
    expect(described.status).toBe(200)
    expect(described.json).toMatchObject({
      room,
      auth: true,
      access: 'view',
      effectiveAccess: 'view',
      mode: 'edit',
      jti: view.jti,
    })
    expect(described.json.expiresAt).toBeGreaterThan(Date.now())

    const missing = await api(server.port, 'GET', `/api/rooms/${room}/access`)
    expect(missing).toEqual({ status: 401, json: { error: 'token required', code: 'token_missing' } })
    const wrong = await api(server.port, 'GET', '/api/rooms/other/access', { token: edit })
    expect(wrong).toEqual({ status: 403, json: { error: 'token is for another room', code: 'wrong_room' } })
    const invalid = await api(server.port, 'GET', `/api/rooms/${room}/access`, { token: 'x.y.z' })
    expect(invalid.json.code).toBe('token_invalid')

    for (const [method, path, body] of [
      ['POST', 'links', { access: 'edit' }],
      ['POST', 'revoke', { jti: view.jti }],
      ['PUT', 'mode', { mode: 'view' }],
    ] as const) {
      const refused = await api(server.port, method, `/api/rooms/${room}/${path}`, { token: edit, body })
      expect(refused, path).toEqual({
        status: 403,
        json: { error: 'admin access required', code: 'not_admin' },
      })
    }
    const admin = (await tokenFor(room, 'admin')).token
    const textBody = await api(server.port, 'POST', `/api/rooms/${room}/links`, {
      token: admin,
      body: { access: 'view' },
      headers: { 'content-type': 'text/plain' },
    })
    expect(textBody.status).toBe(415)
    const tooBig = await api(server.port, 'POST', `/api/rooms/${room}/links`, {
      token: admin,
      body: { access: 'view', pad: 'x'.repeat(5000) },
    })
    expect(tooBig.status).toBe(413)
    const tooLong = await api(server.port, 'POST', `/api/rooms/${room}/links`, {
      token: admin,
      body: { access: 'view', ttlSeconds: 400 * 86_400 },
    })
    expect(tooLong.status).toBe(400)
    const minted = await api(server.port, 'POST', `/api/rooms/${room}/links`, {
      token: admin,
      body: { access: 'view', ttlSeconds: 60 },
      headers: { 'x-forwarded-proto': 'https' },
    })
    expect(minted.status).toBe(201)
    expect(minted.json).toMatchObject({ access: 'view' })
    expect(minted.json.url).toBe(`https://127.0.0.1:${server.port}/r/${room}#token=${minted.json.token}`)
    // Still unchanged: nothing was revoked and the mode stayed.
    expect(
      (await api(server.port, 'GET', `/api/rooms/${room}/access`, { token: view.token })).json.mode,
    ).toBe('edit')
  })

  it('without a secret rooms are open: access says edit, new rooms get a plain URL, admin routes are 404', async () => {
    const server = await startServer()
    cleanups.push(() => server.close())
    const described = await api(server.port, 'GET', '/api/rooms/open-room/access')
    expect(described).toEqual({
      status: 200,
      json: {
        room: 'open-room',
        auth: false,
        access: 'edit',
        effectiveAccess: 'edit',
        mode: 'edit',
        expiresAt: null,
        jti: null,
      },
    })
    const created = await api(server.port, 'POST', '/api/rooms')
    expect(created.status).toBe(200)
    expect(created.json.url).toBe(`http://127.0.0.1:${server.port}/r/${created.json.room}`)
    expect(created.json.room).toMatch(/^[A-Za-z0-9_-]{22}$/)
    const link = await api(server.port, 'POST', '/api/rooms/open-room/links', { body: { access: 'view' } })
    expect(link).toEqual({
      status: 404,
      json: { error: 'access control is off on this server (no TANDEM_AUTH_SECRET)', code: 'auth_off' },
    })
  })
})
