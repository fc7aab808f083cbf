/**
 * A room's history over HTTP (server/http/history-api.ts, history/restore.ts; PROTOCOL.md "History
 * and authorship"): versions listed newest first, a version's text, its diff against now and
 * against another version, naming and deleting; a restore that two live stock y-websocket clients
 * converge on, recorded as a `restore` version and itself undone by restoring the version before
 * it; a partial restore that brings back one range and leaves the rest as it is now; view tokens
 * read and cannot write; the refusals (400, 404, 405, 413). Real server on port 0, SQLite in a
 * temp dir, fetch as the client.
 */
import { describe, expect, it } from 'vitest'
import { applyRuns, type DiffRun } from '../server/history/text-diff.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import type { VersionInfo } from '../server/store/history-store.ts'
import { SECRET, tokenFor } from './helpers/auth.ts'
import { feedOpener } from './helpers/event-stream.ts'
import { cleanupAfterEach, type TestClient, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const { start, client } = tracked(cleanups)
const openFeed = feedOpener(cleanups)

interface Answer {
  status: number
  json: Record<string, unknown>
  text: string
  headers: Headers
}

/** Calls `method path` on 127.0.0.1:`port` (`body` as JSON unless a string). */
async function call(
  port: number,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] ??= 'application/json'
  const body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : body,
  })
  const text = await response.text()
  const json = response.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {}
  return { status: response.status, json, text, headers: response.headers }
}

const textOf = (c: TestClient) => c.doc.getText(ROOM_TEXT)

/** Waits until the server's text of `room` is `expected`. */
async function serverHas(port: number, room: string, expected: string): Promise<void> {
  await waitFor(
    async () => (await call(port, 'GET', `/api/rooms/${room}/text`)).text === expected,
    `the server's text to be ${JSON.stringify(expected)}`,
  )
}

/** Waits until every client's text is `expected`. */
async function clientsHave(clients: TestClient[], expected: string): Promise<void> {
  await waitFor(() => clients.every((c) => textOf(c).toString() === expected), `clients to read ${expected}`)
}

/** Names the room's current text; returns the version. */
async function name(port: number, room: string, versionName: string, token?: string): Promise<VersionInfo> {
  const answer = await call(port, 'POST', `/api/rooms/${room}/versions`, {
    body: { name: versionName },
    token,
  })
  expect(answer.status, JSON.stringify(answer.json)).toBe(201)
  return answer.json.version as VersionInfo
}

/** Replaces a client's whole text with `text`, in one transaction. */
function retype(c: TestClient, text: string): void {
  const shared = textOf(c)
  c.doc.transact(() => {
    shared.delete(0, shared.length)
    shared.insert(0, text)
  })
}

/** A server with room `room` holding `text`, typed by a stock client, named `versionName`. */
async function roomWithVersion(room: string, text: string, versionName: string) {
  const started = await start()
  const a = client(started.url, room)
  textOf(a).insert(0, text)
  await serverHas(started.port, room, text)
  const version = await name(started.port, room, versionName)
  return { ...started, a, version }
}

describe('history API', () => {
  it('lists versions newest first, serves their text and diffs, names and deletes them', async () => {
    const room = 'history-read'
    const { port, a, version: first } = await roomWithVersion(room, 'hello world', '  first  ')
    expect(first).toMatchObject({
      kind: 'named',
      name: 'first',
      length: 11,
      by: 'HTTP API',
      restoredFrom: null,
    })
    textOf(a).insert(11, ', again 😀')
    await serverHas(port, room, 'hello world, again 😀')
    const second = await name(port, room, 'second', undefined)

    const list = await call(port, 'GET', `/api/rooms/${room}/versions`)
    expect(list.status).toBe(200)
    const versions = list.json.versions as VersionInfo[]
    expect(versions.map((v) => v.id)).toEqual([...versions.map((v) => v.id)].sort((x, y) => y - x))
    expect(versions.filter((v) => v.kind === 'named').map((v) => v.name)).toEqual(['second', 'first'])

    const text = await call(port, 'GET', `/api/rooms/${room}/versions/${first.id}`)
    expect(text.status).toBe(200)
    expect(text.text).toBe('hello world')
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(text.headers.get('tandem-version')).toBe(String(first.id))
    expect(text.headers.get('tandem-change-id')).toBe(String(first.changeId))

    textOf(a).delete(0, 5)
    textOf(a).insert(0, 'goodbye')
    const now = 'goodbye world, again 😀'
    await serverHas(port, room, now)
    const diff = await call(port, 'GET', `/api/rooms/${room}/versions/${first.id}/diff?against=current`)
    expect(diff.status).toBe(200)
    expect(diff.json).toMatchObject({ from: first.id, against: 'current' })
    expect(applyRuns('hello world', diff.json.runs as DiffRun[])).toBe(now)
    expect((diff.json.inserted as number) - (diff.json.deleted as number)).toBe(now.length - 11)
    const latest = await call(port, 'GET', `/api/rooms/${room}`)
    expect(diff.json.changeId).toBe(latest.json.changeId)
    // Without `against`: against the current text.
    const implicit = await call(port, 'GET', `/api/rooms/${room}/versions/${first.id}/diff`)
    expect(implicit.json.runs).toEqual(diff.json.runs)

    const between = await call(
      port,
      'GET',
      `/api/rooms/${room}/versions/${first.id}/diff?against=${second.id}`,
    )
    expect(between.json).toMatchObject({ from: first.id, against: second.id, changeId: second.changeId })
    expect(between.json.runs).toEqual([{ equal: 11 }, { insert: ', again 😀' }])

    expect((await call(port, 'DELETE', `/api/rooms/${room}/versions/${first.id}`)).status).toBe(204)
    const gone = await call(port, 'GET', `/api/rooms/${room}/versions/${first.id}`)
    expect(gone.status).toBe(404)
    expect(gone.json.code).toBe('version_not_found')
    expect((await call(port, 'DELETE', `/api/rooms/${room}/versions/${first.id}`)).json.code).toBe(
      'version_not_found',
    )
    // The next version's text is still its own.
    expect((await call(port, 'GET', `/api/rooms/${room}/versions/${second.id}`)).text).toBe(
      'hello world, again 😀',
    )
  })

  it('restores a version: two live clients converge on it, it is a version, and it can be undone', async () => {
    const room = 'history-restore'
    const { port, url, server, a, version: v1 } = await roomWithVersion(room, 'one two three', 'v1')
    const b = client(url, room)
    await clientsHave([a, b], 'one two three')
    retype(b, 'one 2 three four')
    await clientsHave([a, b], 'one 2 three four')
    await serverHas(port, room, 'one 2 three four')
    const before = await name(port, room, 'before restore')

    const restored = await call(port, 'POST', `/api/rooms/${room}/versions/${v1.id}/restore`, {
      headers: { 'tandem-author': 'Ada' },
    })
    expect(restored.status, JSON.stringify(restored.json)).toBe(200)
    expect(restored.json.version).toMatchObject({
      kind: 'restore',
      name: 'Restored from "v1"',
      restoredFrom: v1.id,
      by: 'Ada',
      length: 13,
      changeId: restored.json.changeId,
    })
    // Durable and in the change log before the answer, credited to the caller.
    const loaded = [...server.rooms.loaded()].find((r) => r.name === room)!
    const since = loaded.changes.since(before.changeId)!
    expect(since.find((c) => c.id === restored.json.changeId)?.author).toBe('Ada')
    await clientsHave([a, b], 'one two three')

    // Restoring the version before the restore undoes it.
    const undone = await call(port, 'POST', `/api/rooms/${room}/versions/${before.id}/restore`)
    expect(undone.status).toBe(200)
    await clientsHave([a, b], 'one 2 three four')
    const list = (await call(port, 'GET', `/api/rooms/${room}/versions`)).json.versions as VersionInfo[]
    expect(list.slice(0, 2).map((v) => v.name)).toEqual([
      'Restored from "before restore"',
      'Restored from "v1"',
    ])
  })

  it('restores a range: only that passage comes back, where it maps to today', async () => {
    const room = 'history-partial'
    const { port, url, a, version: v1 } = await roomWithVersion(room, 'alpha beta gamma', 'lower')
    const b = client(url, room)
    await clientsHave([a, b], 'alpha beta gamma')
    retype(b, 'ALPHA beta new GAMMA delta')
    await serverHas(port, room, 'ALPHA beta new GAMMA delta')
    // Typed at the end since: stays.
    textOf(a).insert(26, '!')
    await serverHas(port, room, 'ALPHA beta new GAMMA delta!')

    // "alpha" (0..5) comes back over "ALPHA"; "new", "GAMMA", "delta!" stay.
    const partial = await call(port, 'POST', `/api/rooms/${room}/versions/${v1.id}/restore`, {
      body: { from: 0, to: 5 },
    })
    expect(partial.status, JSON.stringify(partial.json)).toBe(200)
    await clientsHave([a, b], 'alpha beta new GAMMA delta!')
    // A range whose text is there already changes nothing.
    const same = await call(port, 'POST', `/api/rooms/${room}/versions/${v1.id}/restore`, {
      body: { from: 6, to: 10 },
    })
    expect(same.status).toBe(200)
    await serverHas(port, room, 'alpha beta new GAMMA delta!')

    const refused = async (body: unknown) =>
      (await call(port, 'POST', `/api/rooms/${room}/versions/${v1.id}/restore`, { body })).json.code
    expect(await refused({ from: 3 })).toBe('bad_range')
    expect(await refused({ from: 4, to: 2 })).toBe('bad_range')
    expect(await refused({ from: 0, to: 17 })).toBe('bad_range')
    expect(await refused({ from: -1, to: 2 })).toBe('bad_range')
    expect(await refused({ from: '0', to: 2 })).toBe('bad_range')
  })

  it('announces every version made to the change feed as `event: version`', async () => {
    const room = 'history-feed'
    const { port, version: v1 } = await roomWithVersion(room, 'feed me', 'v1')
    const feed = await openFeed(port, room)
    await waitFor(() => feed.named('presence').length > 0, 'the feed to be live')
    const v2 = await name(port, room, 'v2')
    const restored = await call(port, 'POST', `/api/rooms/${room}/versions/${v1.id}/restore`)
    await waitFor(() => feed.named('version').length === 2, 'two version events')
    const events = feed.named('version')
    expect(events.map((event) => event.id)).toEqual([null, null])
    expect(events.map((event) => JSON.parse(event.data))).toEqual([v2, restored.json.version])
  })

  it('gives a resumed feed the versions made while it was away, each once', async () => {
    const room = 'history-feed-resume'
    const { port, a, version: v1 } = await roomWithVersion(room, 'feed me', 'v1')
    const feed = await openFeed(port, room)
    await waitFor(() => feed.named('presence').length > 0, 'the feed to be live')
    textOf(a).insert(0, 'more ')
    await waitFor(() => feed.named('change').length === 1, 'the change')
    const lastId = feed.lastEventId
    feed.close()
    // While it is away: a version at the id it stands at, a change, and a version after that.
    const v2 = await name(port, room, 'v2')
    textOf(a).insert(0, 'and ')
    await serverHas(port, room, 'and more feed me')
    const v3 = await name(port, room, 'v3')

    const resumed = await openFeed(port, room, { 'Last-Event-ID': lastId })
    await waitFor(() => resumed.named('presence').length > 0, 'the resumed feed to be live')
    expect(resumed.named('reset')).toEqual([])
    expect(resumed.changes().map((change) => change.id)).toEqual([Number(lastId) + 1])
    expect(resumed.named('version').map((event) => JSON.parse(event.data))).toEqual([v2, v3])
    // Versions come after the changes they stand at, before the presence snapshot.
    const kinds = resumed.events.map((event) => event.event)
    expect(kinds.indexOf('version')).toBeGreaterThan(kinds.indexOf('change'))
    expect(kinds.lastIndexOf('version')).toBeLessThan(kinds.indexOf('presence'))
    // A version older than the resumed id is not sent again.
    expect(resumed.named('version').some((event) => JSON.parse(event.data).id === v1.id)).toBe(false)
  })

  it('refuses a range inside a surrogate pair', async () => {
    const room = 'history-pairs'
    const { port, version: v1 } = await roomWithVersion(room, 'a😀b', 'emoji')
    const answer = await call(port, 'POST', `/api/rooms/${room}/versions/${v1.id}/restore`, {
      body: { from: 2, to: 4 },
    })
    expect(answer.status).toBe(400)
    expect(answer.json.code).toBe('bad_range')
  })

  it('lets view tokens read history and refuses them every write', async () => {
    const { port, url } = await start({ authSecret: SECRET })
    const room = 'history-access'
    const edit = (await tokenFor(room, 'edit')).token
    const view = (await tokenFor(room, 'view')).token
    const a = client(url, room, { params: { token: edit } })
    textOf(a).insert(0, 'secret text')
    await waitFor(
      async () =>
        (await call(port, 'GET', `/api/rooms/${room}/text`, { token: view })).text === 'secret text',
      'the text on the server',
    )
    const v1 = await name(port, room, 'by editor', edit)
    const path = `/api/rooms/${room}/versions`
    expect((await call(port, 'GET', path, { token: view })).status).toBe(200)
    expect((await call(port, 'GET', `${path}/${v1.id}`, { token: view })).text).toBe('secret text')
    expect((await call(port, 'GET', `${path}/${v1.id}/diff`, { token: view })).status).toBe(200)
    for (const [method, where, body] of [
      ['POST', path, { name: 'mine' }],
      ['POST', `${path}/${v1.id}/restore`, {}],
      ['DELETE', `${path}/${v1.id}`, undefined],
    ] as const) {
      const answer = await call(port, method, where, { token: view, body })
      expect(answer.status, `${method} ${where}`).toBe(403)
      expect(answer.json.code).toBe('forbidden')
    }
    expect((await call(port, 'GET', path)).status).toBe(401)
    const other = (await tokenFor('another-room', 'edit')).token
    expect((await call(port, 'GET', path, { token: other })).status).toBe(403)
  })

  it('refuses what is not a history request: 400, 404, 405, 413', async () => {
    const room = 'history-errors'
    const { port, version: v1 } = await roomWithVersion(room, 'x', 'x')
    const path = `/api/rooms/${room}/versions`
    const code = async (method: string, where: string, body?: unknown) => {
      const answer = await call(port, method, where, { body })
      return `${answer.status} ${answer.json.code}`
    }
    expect(await code('GET', `${path}/abc`)).toBe('400 bad_request')
    expect(await code('GET', `${path}/0`)).toBe('400 bad_request')
    expect(await code('GET', `${path}/999`)).toBe('404 version_not_found')
    expect(await code('GET', `${path}/999/diff`)).toBe('404 version_not_found')
    expect(await code('GET', `${path}/${v1.id}/diff?against=999`)).toBe('404 version_not_found')
    expect(await code('GET', `${path}/${v1.id}/diff?against=later`)).toBe('400 bad_request')
    expect(await code('POST', `${path}/999/restore`, {})).toBe('404 version_not_found')
    expect(await code('POST', path, { name: '' })).toBe('400 bad_request')
    expect(await code('POST', path, { name: 'n'.repeat(101) })).toBe('400 bad_request')
    expect(await code('POST', path, { name: 'tab\there' })).toBe('400 bad_request')
    expect(await code('POST', path, { name: 42 })).toBe('400 bad_request')
    expect(await code('POST', path, '{not json')).toBe('400 bad_request')
    expect(await code('POST', path, [1])).toBe('400 bad_request')
    expect(await code('POST', path, { name: 'x'.repeat(5000) })).toBe('413 too_large')
    expect(await code('PUT', path)).toBe('405 method_not_allowed')
    expect(await code('POST', `${path}/${v1.id}/diff`)).toBe('405 method_not_allowed')
    expect(await code('GET', `/api/rooms/bad%20room!/versions`)).toBe('400 bad_room')
    // A name of 100 characters (astral ones count once) is fine.
    expect((await name(port, room, '😀'.repeat(100))).name).toBe('😀'.repeat(100))
  })
})
