/**
 * Reading a document over HTTP (PROTOCOL.md, "The document over HTTP"): the metadata, the text
 * with its change id and ETag (304 on If-None-Match), the Yjs state and the diff from a state
 * vector, for rooms loaded or not; UTF-16 lengths; refusals as JSON {error, code}; with access
 * control on, every read route takes any token of the room (Bearer or ?token=) and refuses the
 * rest; the access API's routes beside them still answer.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { api, SECRET, tokenFor } from './helpers/auth.ts'
import { EventStream } from './helpers/event-stream.ts'
import { cleanupAfterEach, synced, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const t = tracked(cleanups)

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { headers })

/** The room's metadata, as JSON. */
async function metadata(port: number, room: string): Promise<Record<string, unknown>> {
  const response = await get(port, `/api/rooms/${room}`)
  expect(response.status).toBe(200)
  return (await response.json()) as Record<string, unknown>
}

describe('document reads', () => {
  it('answers metadata, text with its change id and ETag, and the Yjs state of a room a client typed in', async () => {
    const { server, port, url } = await t.start()
    const client = t.client(url, 'reads')
    await synced(client)
    const text = client.doc.getText('codemirror')
    text.insert(0, 'a😀b')
    text.insert(4, 'e\u0301')
    await waitFor(async () => (await metadata(port, 'reads')).length === 6, 'both changes committed')

    const meta = await metadata(port, 'reads')
    expect(meta).toMatchObject({ room: 'reads', length: 6, clients: 1 })
    expect(meta.changeId).toBeGreaterThanOrEqual(2)
    expect(meta.changedAt).toBeTypeOf('number')
    expect(meta.storedBytes).toBeGreaterThan(0)

    const response = await get(port, '/api/rooms/reads/text')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(response.headers.get('tandem-change-id')).toBe(String(meta.changeId))
    expect(response.headers.get('etag')).toBe(`"${meta.changeId}"`)
    expect(await response.text()).toBe('a😀be\u0301')

    const etag = response.headers.get('etag')!
    const unchanged = await get(port, '/api/rooms/reads/text', { 'if-none-match': etag })
    expect(unchanged.status).toBe(304)
    expect(await unchanged.text()).toBe('')
    expect((await get(port, '/api/rooms/reads/text', { 'if-none-match': `W/${etag}, "x"` })).status).toBe(304)
    expect((await get(port, '/api/rooms/reads/text', { 'if-none-match': '"0"' })).status).toBe(200)

    const state = await get(port, '/api/rooms/reads/update')
    expect(state.status).toBe(200)
    expect(state.headers.get('content-type')).toBe('application/octet-stream')
    const copy = new Y.Doc()
    Y.applyUpdate(copy, new Uint8Array(await state.arrayBuffer()))
    expect(copy.getText('codemirror').toString()).toBe('a😀be\u0301')

    // The diff from a state vector holds exactly what that state lacks.
    text.insert(0, '>')
    await waitFor(async () => (await metadata(port, 'reads')).length === 7, 'the third change committed')
    const sv = Buffer.from(Y.encodeStateVector(copy)).toString('base64url')
    const diff = await get(port, `/api/rooms/reads/update?stateVector=${sv}`)
    expect(diff.status).toBe(200)
    const bytes = new Uint8Array(await diff.arrayBuffer())
    expect(bytes.byteLength).toBeLessThan(Y.encodeStateAsUpdate(client.doc).byteLength)
    Y.applyUpdate(copy, bytes)
    expect(copy.getText('codemirror').toString()).toBe('>a😀be\u0301')
    expect(server.rooms.size).toBe(1)
  })

  it('reads a room nobody has open (loading it from the store), and an empty one', async () => {
    const { server, port, url } = await t.start({ roomUnloadDelayMs: 0 })
    const client = t.client(url, 'stored')
    await synced(client)
    client.doc.getText('codemirror').insert(0, 'kept')
    await waitFor(async () => (await metadata(port, 'stored')).length === 4, 'the change committed')
    client.destroy()
    await waitFor(() => server.rooms.size === 0, 'the room to unload')

    const response = await get(port, '/api/rooms/stored/text')
    expect(await response.text()).toBe('kept')
    expect(Number(response.headers.get('tandem-change-id'))).toBeGreaterThan(0)
    expect(await metadata(port, 'stored')).toMatchObject({ length: 4, clients: 0 })
    await waitFor(() => server.rooms.size === 0, 'the read to release the room')

    expect(await metadata(port, 'never-written')).toEqual({
      room: 'never-written',
      length: 0,
      changeId: 0,
      changedAt: null,
      clients: 0,
      storedBytes: 0,
    })
    const empty = await get(port, '/api/rooms/never-written/text')
    expect(empty.headers.get('etag')).toBe('"0"')
    expect(await empty.text()).toBe('')
  })

  it('refuses bad input with JSON {error, code}', async () => {
    const { port } = await t.start()
    const badRoom = await get(port, '/api/rooms/bad%20room/text')
    expect(badRoom.status).toBe(400)
    expect(await badRoom.json()).toMatchObject({ code: 'bad_room' })
    for (const sv of ['!!!', 'AQ', '']) {
      const response = await get(port, `/api/rooms/r/update?stateVector=${sv}`)
      expect(response.status, sv).toBe(400)
      expect(await response.json()).toMatchObject({ code: 'bad_request' })
    }
    const badId = await get(port, '/api/rooms/r/events?lastEventId=-1')
    expect(badId.status).toBe(400)
    expect(await badId.json()).toMatchObject({ code: 'bad_request' })
    const post = await fetch(`http://127.0.0.1:${port}/api/rooms/r`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect(await post.json()).toMatchObject({ code: 'method_not_allowed' })
    // The access API's routes are still its own.
    expect((await api(port, 'GET', '/api/rooms/r/access')).json).toMatchObject({ auth: false })
    expect((await api(port, 'POST', '/api/rooms/')).status).toBe(200)
    expect((await api(port, 'GET', '/api/rooms/r/nothing')).status).toBe(404)
  })
})

describe('document reads with access control', () => {
  const routes = ['', '/text', '/update', '/events']

  /** The status of GET `route` on room `room`, with `auth` as header or query. */
  async function status(port: number, route: string, auth: { bearer?: string; query?: string } = {}) {
    const query = auth.query ? `?token=${auth.query}` : ''
    const headers: Record<string, string> = auth.bearer ? { authorization: `Bearer ${auth.bearer}` } : {}
    const stream = await EventStream.open(port, `/api/rooms/locked${route}${query}`, headers)
    stream.close()
    return stream.status
  }

  it('every read route takes a view, edit or admin token of the room, as a header or a query parameter', async () => {
    const { port } = await t.start({ authSecret: SECRET })
    for (const access of ['view', 'edit', 'admin'] as const) {
      const { token } = await tokenFor('locked', access)
      for (const route of routes) {
        expect(await status(port, route, { bearer: token }), `${access} ${route} bearer`).toBe(200)
        expect(await status(port, route, { query: token }), `${access} ${route} query`).toBe(200)
      }
    }
  })

  it('every read route refuses no token, a token of another room, a forged one', async () => {
    const { port } = await t.start({ authSecret: SECRET })
    const other = (await tokenFor('elsewhere', 'admin')).token
    const forged = (await tokenFor('locked', 'admin', { secret: `${SECRET}-not` })).token
    for (const route of routes) {
      const none = await get(port, `/api/rooms/locked${route}`)
      expect(none.status, route).toBe(401)
      expect(await none.json()).toMatchObject({ code: 'token_missing' })
      const wrong = await get(port, `/api/rooms/locked${route}`, { authorization: `Bearer ${other}` })
      expect(wrong.status, route).toBe(403)
      expect(await wrong.json()).toMatchObject({ code: 'wrong_room' })
      expect(await status(port, route, { query: forged }), route).toBe(401)
    }
  })

  it('a stream ends when its token is revoked', async () => {
    const { port } = await t.start({ authSecret: SECRET })
    const admin = (await tokenFor('locked', 'admin')).token
    const view = await tokenFor('locked', 'view')
    const stream = await EventStream.open(port, `/api/rooms/locked/events?token=${view.token}`)
    cleanups.push(() => stream.close())
    await stream.until((s) => s.named('presence').length === 1, 'the stream to start')
    const revoked = await api(port, 'POST', '/api/rooms/locked/revoke', {
      token: admin,
      body: { jti: view.jti },
    })
    expect(revoked).toMatchObject({ status: 200, json: { closed: 1 } })
    await stream.until((s) => s.ended, 'the stream to end')
    expect(await status(port, '/events', { query: view.token })).toBe(401)
  })
})
