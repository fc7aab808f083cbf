/**
 * Writes over HTTP (server/http/document-writes.ts, text-edit.ts; PROTOCOL.md "The document over
 * HTTP"): `POST …/text` and `POST …/update` reach stock y-websocket clients live, are durable
 * before they are answered, and a text edit on an old `base` is rebased over what a stock client
 * typed meanwhile (seeded, checked against the change log: the change it became is exactly the
 * edit rebased over the changes committed between its base and it). Then the refusals: 409 past
 * what is kept, the checks a socket's update passes, access, rate limits, bodies past their limit,
 * and inputs of every wrong kind. Real server on port 0, SQLite in a temp dir, fetch as the client.
 */
import { request } from 'node:http'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DEFAULT_AUTHOR } from '../server/http/document-writes.ts'
import { applyTextEdit, type EditableRoom } from '../server/http/text-edit.ts'
import { ROOM_TEXT, type RoomChangeLog, type SequencedChange } from '../server/rooms/change-log.ts'
import { apply, type Delta, deltaToOp, rebaseEdit, type TextEdit } from '../shared/ot/index.ts'
import { SECRET, tokenFor } from './helpers/auth.ts'
import { cleanupAfterEach, startServer, synced, type TestServer, tracked, waitFor } from './helpers/relay.ts'
import { seededTest, seedRange } from './helpers/seed.ts'
import { randomEdit, randomText, typeRandomly } from './helpers/text-edits.ts'

const cleanups = cleanupAfterEach()
const { start, client } = tracked(cleanups)

interface Answer {
  status: number
  json: Record<string, unknown>
  retryAfter: string | null
}

/** POSTs `body` (JSON unless bytes or a raw string) to `/api/rooms/<room>/<action>`. */
async function post(
  port: number,
  path: string,
  body: unknown,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  let payload: BodyInit
  if (body instanceof Uint8Array) {
    headers['content-type'] ??= 'application/octet-stream'
    payload = new Uint8Array(body)
  } else {
    headers['content-type'] ??= 'application/json'
    payload = typeof body === 'string' ? body : JSON.stringify(body)
  }
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers, body: payload })
  return {
    status: response.status,
    json: (await response.json()) as Record<string, unknown>,
    retryAfter: response.headers.get('retry-after'),
  }
}

const postText = (port: number, room: string, edit: Record<string, unknown>, options = {}) =>
  post(port, `/api/rooms/${room}/text`, edit, options)

/** The room's text and the change id it reflects, as `GET …/text` answers. */
async function getText(port: number, room: string): Promise<{ text: string; changeId: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/rooms/${room}/text`)
  expect(response.status).toBe(200)
  return { text: await response.text(), changeId: Number(response.headers.get('tandem-change-id')) }
}

/** A Yjs update inserting `text` at the start of the room's text, made by a fresh document. */
function insertUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText(ROOM_TEXT).insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** A stock client in `room`, synced, and its copy of the room's text. */
async function typist(server: TestServer, room: string) {
  const c = client(server.url, room)
  await synced(c)
  return { client: c, text: c.doc.getText(ROOM_TEXT) }
}

describe('POST …/text and …/update', () => {
  it('a text edit reaches a connected stock client live, appears in GET text, and is credited', async () => {
    const server = await start()
    const { text } = await typist(server, 'notes')
    const first = await postText(server.port, 'notes', { index: 0, insert: 'hello world' })
    expect(first).toMatchObject({ status: 200, json: { changeId: 1, index: 0 } })
    await waitFor(() => text.toString() === 'hello world', 'the stock client to see the edit')
    const second = await postText(
      server.port,
      'notes',
      { index: 6, delete: 5, insert: 'there' },
      { headers: { 'tandem-author': Buffer.from('Zoë bot').toString('latin1') } },
    )
    expect(second).toMatchObject({ status: 200, json: { changeId: 2, index: 6 } })
    await waitFor(() => text.toString() === 'hello there', 'the stock client to see the second edit')
    expect(await getText(server.port, 'notes')).toEqual({ text: 'hello there', changeId: 2 })
    const changes = server.server.rooms.get('notes')!.changes.since(0)!
    expect(changes.map((change) => change.author)).toEqual(['HTTP API', 'Zoë bot'])
  })

  it('an update reaches a connected stock client and is durable: a restart on the same file still has both', async () => {
    const first = await startServer()
    const { text, client: c } = await typist(first, 'kept')
    const update = await post(first.port, '/api/rooms/kept/update', insertUpdate('from a program'))
    expect(update).toMatchObject({ status: 200, json: { changeId: 1 } })
    await waitFor(() => text.toString() === 'from a program', 'the stock client to see the update')
    const edit = await postText(first.port, 'kept', { index: 4, delete: 1, insert: ' a ' })
    expect(edit).toMatchObject({ status: 200, json: { changeId: 2 } })
    c.destroy()
    // Answered means durable: what the next server reads from the file has both.
    await first.server.close()
    const second = await startServer({ db: first.db })
    cleanups.push(() => second.close())
    expect(await getText(second.port, 'kept')).toEqual({ text: 'from a a program', changeId: 2 })
  })

  it('counts indexes in UTF-16 units (astral characters two, combining accents one) and refuses splitting a pair', async () => {
    const server = await start()
    expect((await postText(server.port, 'units', { index: 0, insert: 'a😀be\u0301' })).status).toBe(200)
    const split = await postText(server.port, 'units', { index: 2, insert: 'X' })
    expect(split).toMatchObject({ status: 400, json: { code: 'bad_edit' } })
    const halfDeleted = await postText(server.port, 'units', { index: 1, delete: 1 })
    expect(halfDeleted).toMatchObject({ status: 400, json: { code: 'bad_edit' } })
    const lone = await postText(server.port, 'units', { index: 0, insert: '\ud83d' })
    expect(lone).toMatchObject({ status: 400, json: { code: 'bad_edit' } })
    expect(await postText(server.port, 'units', { index: 3, insert: 'X' })).toMatchObject({
      status: 200,
      json: { index: 3 },
    })
    // Between the e and its accent: a unit boundary, so allowed (the accent moves to the new text).
    expect(await postText(server.port, 'units', { index: 6, insert: '\u0300' })).toMatchObject({
      status: 200,
      json: { index: 6 },
    })
    expect((await getText(server.port, 'units')).text).toBe('a😀Xbe\u0300\u0301')
  })
})

/** Characters the base text, the stock client and the HTTP edits draw from (each with astral and combining ones). */
const BASE = ['a', 'b', ' ', 'é', '😀', '\u0301']
const TYPED = ['x', 'y', '𝄞', '\u0308']
const EDITED = ['Z', '🎉', '\u0327']

describe('an edit on an old base', () => {
  seededTest(
    'is rebased over what a stock client typed meanwhile, exactly as the change log has it',
    async (gen) => {
      const server = await start()
      const room = 'rebase'
      const { text } = await typist(server, room)
      text.insert(0, randomText(gen, BASE, 5, 20))
      const made: { base: number; before: string; edit: TextEdit; changeId: number; index: number }[] = []
      for (let round = 0; round < 6; round++) {
        await waitFor(
          async () => (await getText(server.port, room)).text === text.toString(),
          'the server to hold the typing',
        )
        const { text: before, changeId: base } = await getText(server.port, room)
        const edit = randomEdit(gen, before, EDITED)
        // The client types on; the server commits some of it before the edit arrives, the rest while it does.
        for (let n = prng.uint32(gen, 1, 4); n > 0; n--) typeRandomly(gen, text, TYPED)
        await waitFor(
          () => server.server.rooms.get(room)!.changes.latestId > base,
          'the typing to be committed',
        )
        const posting = postText(server.port, room, { ...edit, base })
        for (let n = prng.uint32(gen, 0, 4); n > 0; n--) {
          typeRandomly(gen, text, TYPED)
          await new Promise((resolve) => setImmediate(resolve))
        }
        const answer = await posting
        expect(answer.status, JSON.stringify(answer.json)).toBe(200)
        made.push({
          base,
          before,
          edit,
          changeId: answer.json.changeId as number,
          index: answer.json.index as number,
        })
      }
      await waitFor(
        async () => (await getText(server.port, room)).text === text.toString(),
        'everyone to agree',
      )

      // The text at every change id, from the change log.
      const log = await server.server.store.changesSince(room, 0, 10_000)
      const textAt = ['']
      for (const change of log.changes) {
        expect(change.id).toBe(textAt.length)
        textAt.push(apply(textAt[change.id - 1], deltaToOp(JSON.parse(change.delta!) as Delta)))
      }
      expect(textAt[textAt.length - 1]).toBe(text.toString())
      for (const { base, before, edit, changeId, index } of made) {
        const context = JSON.stringify({ base, before, edit, changeId, index })
        expect(textAt[base], context).toBe(before)
        const deltas = log.changes.map((change) => JSON.parse(change.delta!) as Delta)
        if (log.changes[changeId - 1].author === DEFAULT_AUTHOR) {
          // The change the edit became: the edit rebased over every change committed before it.
          expect(changeId - 1, `${context}: the base was stale`).toBeGreaterThan(base)
          const rebased = rebaseEdit(edit, deltas.slice(base, changeId - 1))
          expect(textAt[changeId], context).toBe(apply(textAt[changeId - 1], rebased.op))
          expect(index, context).toBe(rebased.index)
        } else {
          // An edit left with nothing to do (no insert, its range deleted since) changes nothing.
          const rebased = rebaseEdit(edit, deltas.slice(base, changeId))
          expect(rebased.op, context).toEqual([])
          expect(index, context).toBe(rebased.index)
        }
        expect(textAt[changeId].slice(index, index + edit.insert.length), context).toBe(edit.insert)
      }
    },
    { seeds: seedRange(3), timeout: 60_000 },
  )

  it('waits for a base this instance has not heard yet (read on another instance), then rebases over it', async () => {
    const server = await start()
    const { text } = await typist(server, 'ahead')
    text.insert(0, 'abc')
    await waitFor(async () => (await getText(server.port, 'ahead')).text === 'abc', 'the server to have abc')
    const { changeId } = await getText(server.port, 'ahead')
    // A base one past the latest (its text '> abc', read on another instance): the edit waits for it.
    const posting = postText(server.port, 'ahead', { index: 5, insert: '!', base: changeId + 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
    text.insert(0, '> ')
    expect(await posting).toMatchObject({ status: 200, json: { changeId: changeId + 2, index: 5 } })
    await waitFor(() => text.toString() === '> abc!', 'the stock client to see the rebased edit')
    // One this room never reaches is refused once the wait is over.
    const never = await postText(server.port, 'ahead', { index: 0, insert: 'x', base: changeId + 50 })
    expect(never).toMatchObject({ status: 400, json: { code: 'bad_request' } })
  })

  it('answers 409 base_expired once the changes after base are no longer kept, and rebases a kept one', async () => {
    const server = await start({ feedKeepChanges: 2, feedKeepHours: 0, roomUnloadDelayMs: 20 })
    const { client: c, text } = await typist(server, 'old')
    for (const word of ['one ', 'two ', 'three ', 'four ', 'five ']) text.insert(text.length, word)
    await waitFor(() => server.server.rooms.get('old')?.changes.latestId === 5, 'five changes committed')
    c.destroy()
    // Unloading compacts the room, which prunes its changes to the last two.
    await waitFor(() => !server.server.rooms.isOpen('old'), 'the room to unload')
    const expired = await postText(server.port, 'old', { index: 0, insert: '!', base: 1 })
    expect(expired).toMatchObject({ status: 409, json: { code: 'base_expired' } })
    // Base 4 ("one two three four "): "five " has come since, kept in the store.
    const kept = await postText(server.port, 'old', { index: 4, delete: 4, insert: '2 ', base: 4 })
    expect(kept).toMatchObject({ status: 200, json: { changeId: 6, index: 4 } })
    expect((await getText(server.port, 'old')).text).toBe('one 2 three four five ')
  })
})

describe('refusals', () => {
  /** A raw POST whose body arrives in chunks without a declared length; answers the status and JSON. */
  function postChunked(
    port: number,
    path: string,
    chunks: Buffer[],
  ): Promise<{ status: number; code: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST' }, (res) => {
        let body = ''
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: JSON.parse(body).code }))
      })
      req.on('error', reject)
      req.setHeader('content-type', 'application/octet-stream')
      for (const chunk of chunks) req.write(chunk)
      req.end()
    })
  }

  it("updates pass a socket's checks: malformed 422, past the quota 413, past maxPayload 413 (declared or streamed)", async () => {
    const server = await start({ maxDocumentBytes: 4096, maxPayload: 8192 })
    const malformed = await post(server.port, '/api/rooms/checked/update', new Uint8Array([1, 2, 3, 250]))
    expect(malformed).toMatchObject({ status: 422, json: { code: 'invalid_update' } })
    const overQuota = await post(server.port, '/api/rooms/checked/update', insertUpdate('q'.repeat(6000)))
    expect(overQuota).toMatchObject({ status: 413, json: { code: 'too_large' } })
    const overPayload = await post(server.port, '/api/rooms/checked/update', new Uint8Array(9000))
    expect(overPayload).toMatchObject({ status: 413, json: { code: 'too_large' } })
    const streamed = await postChunked(server.port, '/api/rooms/checked/update', [
      Buffer.alloc(5000),
      Buffer.alloc(5000),
    ])
    expect(streamed).toEqual({ status: 413, code: 'too_large' })
    expect(await post(server.port, '/api/rooms/checked/update', insertUpdate('fits'))).toMatchObject({
      status: 200,
      json: { changeId: 1 },
    })
    expect((await getText(server.port, 'checked')).text).toBe('fits')
  })

  it('with access control: a view token gets 403 forbidden, no token 401, an edit or admin token writes', async () => {
    const server = await start({ authSecret: SECRET })
    const room = 'guarded'
    const view = (await tokenFor(room, 'view')).token
    const edit = (await tokenFor(room, 'edit')).token
    const admin = (await tokenFor(room, 'admin')).token
    const other = (await tokenFor('elsewhere', 'edit')).token
    for (const path of [`/api/rooms/${room}/text`, `/api/rooms/${room}/update`]) {
      const body = path.endsWith('text') ? { index: 0, insert: 'x' } : insertUpdate('x')
      expect(await post(server.port, path, body, { token: view })).toMatchObject({
        status: 403,
        json: { code: 'forbidden' },
      })
      expect(await post(server.port, path, body)).toMatchObject({
        status: 401,
        json: { code: 'token_missing' },
      })
      expect(await post(server.port, path, body, { token: other })).toMatchObject({
        status: 403,
        json: { code: 'wrong_room' },
      })
    }
    expect((await postText(server.port, room, { index: 0, insert: 'b' }, { token: edit })).status).toBe(200)
    const query = await post(server.port, `/api/rooms/${room}/text?token=${admin}`, { index: 0, insert: 'a' })
    expect(query.status).toBe(200)
  })

  it('rate-limits writes per address (messages and bytes) with 429 and Retry-After', async () => {
    const server = await start({ documentMessagesPerSecond: 1, documentMessageBurst: 2 })
    expect((await postText(server.port, 'busy', { index: 0, insert: 'a' })).status).toBe(200)
    expect((await postText(server.port, 'busy', { index: 0, insert: 'b' })).status).toBe(200)
    const third = await postText(server.port, 'busy', { index: 0, insert: 'c' })
    expect(third).toMatchObject({ status: 429, json: { code: 'rate_limited' } })
    expect(Number(third.retryAfter)).toBeGreaterThanOrEqual(1)

    // The byte burst is at least maxPayload, which is at least the quota plus 1 KiB.
    const limits = { maxDocumentBytes: 10_000, maxPayload: 11_024 }
    const bytes = await start({ ...limits, documentBytesPerSecond: 100, documentByteBurst: 11_024 })
    // Counted as they arrive, whatever the room then makes of them (these do not parse: 422).
    const junk = new Uint8Array(7000).fill(7)
    expect((await post(bytes.port, '/api/rooms/bytes/update', junk)).status).toBe(422)
    const again = await post(bytes.port, '/api/rooms/bytes/update', junk)
    expect(again).toMatchObject({ status: 429, json: { code: 'rate_limited' } })
    expect(Number(again.retryAfter)).toBeGreaterThanOrEqual(1)
    // A JSON body (up to 1 MiB) past the byte burst could never pass: 413.
    const huge = await postText(bytes.port, 'bytes', { index: 0, insert: 'x'.repeat(12_000) })
    expect(huge).toMatchObject({ status: 413, json: { code: 'too_large' } })
  })

  it('answers every malformed request with {error, code} and a 4xx, and goes on serving', async () => {
    const server = await start()
    expect((await postText(server.port, 'odd', { index: 0, insert: 'abc' })).status).toBe(200)
    const bad: [unknown, number, string][] = [
      ['{"index": 0,', 400, 'bad_request'],
      ['[1, 2]', 400, 'bad_request'],
      ['null', 400, 'bad_request'],
      ['', 400, 'bad_request'],
      [{}, 400, 'bad_request'],
      [{ index: '1' }, 400, 'bad_request'],
      [{ index: -1 }, 400, 'bad_request'],
      [{ index: 1.5 }, 400, 'bad_request'],
      [{ index: 1e300 }, 400, 'bad_request'],
      [{ index: 2 ** 53 }, 400, 'bad_request'],
      [{ index: 0, delete: -1 }, 400, 'bad_request'],
      [{ index: 0, delete: '1' }, 400, 'bad_request'],
      [{ index: 0, insert: 5 }, 400, 'bad_request'],
      [{ index: 0, insert: ['a'] }, 400, 'bad_request'],
      [{ index: 0, base: 'now' }, 400, 'bad_request'],
      [{ index: 0, base: -2 }, 400, 'bad_request'],
      [{ index: 0, base: 99 }, 400, 'bad_request'],
      [{ index: 4 }, 400, 'bad_edit'],
      [{ index: 2, delete: 2 }, 400, 'bad_edit'],
      [{ index: 0, delete: 4, base: 1 }, 400, 'bad_edit'],
      [{ index: 0, insert: 'x'.repeat(1024 * 1024) }, 413, 'too_large'],
    ]
    for (const [body, status, code] of bad) {
      const answer = await postText(server.port, 'odd', body as Record<string, unknown>)
      expect(answer, JSON.stringify(body).slice(0, 80)).toMatchObject({
        status,
        json: { code, error: expect.any(String) },
      })
    }
    const author = await postText(server.port, 'odd', { index: 0 }, { headers: { 'tandem-author': 'a\tb' } })
    expect(author).toMatchObject({ status: 400, json: { code: 'bad_request' } })
    const long = await postText(
      server.port,
      'odd',
      { index: 0 },
      { headers: { 'tandem-author': 'n'.repeat(65) } },
    )
    expect(long).toMatchObject({ status: 400, json: { code: 'bad_request' } })
    const put = await fetch(`http://127.0.0.1:${server.port}/api/rooms/odd/text`, {
      method: 'PUT',
      body: '{}',
    })
    expect(put.status).toBe(405)
    expect((await put.json()).code).toBe('method_not_allowed')
    const badRoom = await postText(server.port, 'no%20spaces', { index: 0 })
    expect(badRoom).toMatchObject({ status: 400, json: { code: 'bad_room' } })
    expect(await getText(server.port, 'odd')).toEqual({ text: 'abc', changeId: 1 })
    expect((await postText(server.port, 'odd', { index: 3, insert: 'd' })).json).toEqual({
      changeId: 2,
      index: 3,
    })
  })
})

/**
 * applyTextEdit's reading of the past, on a scripted room (a Y.Doc whose memory keeps only the
 * changes from `memoryFrom` on) and store (which keeps those from `oldest` on).
 */
describe('an old base read from the store', () => {
  class ScriptedRoom implements EditableRoom {
    readonly name = 'scripted'
    readonly doc = new Y.Doc()
    readonly text = this.doc.getText(ROOM_TEXT)
    readonly log: SequencedChange[] = []
    memoryFrom = 1
    oldest = 1
    /** Runs before each store read answers (to commit meanwhile). */
    onRead: () => void = () => {}

    readonly changes: RoomChangeLog = {
      latestId: 0,
      latestAt: null,
      text: () => this.text.toString(),
      length: 0,
      since: (after) => (after + 1 < this.memoryFrom ? null : this.log.filter((c) => c.id > after)),
      pending: () => [],
      unitsAt: (indexes) => {
        const text = this.text.toString()
        return indexes.map((at) => (at < text.length ? text.charCodeAt(at) : Number.NaN))
      },
      subscribe: () => () => {},
    }

    /** Commits `edit` of the text as one change. */
    commit(edit: (text: Y.Text) => void): number {
      let delta: Delta = []
      const record = (event: Y.YTextEvent) => {
        delta = event.delta as Delta
      }
      this.text.observe(record)
      this.doc.transact(() => edit(this.text))
      this.text.unobserve(record)
      const id = this.log.length + 1
      this.log.push({ id, at: id, author: null, delta: delta as SequencedChange['delta'] })
      Object.assign(this.changes, { latestId: id, latestAt: id, length: this.text.length })
      return id
    }

    editText(edit: (text: Y.Text) => void): Promise<number> {
      return Promise.resolve(this.commit(edit))
    }

    readonly store = {
      changesSince: async (_room: string, after: number, limit: number) => {
        this.onRead()
        const kept = this.log.filter((c) => c.id > after && c.id >= this.oldest).slice(0, limit)
        return {
          changes: kept.map((c) => ({ ...c, delta: JSON.stringify(c.delta) })),
          oldest: this.log.length > 0 ? this.oldest : null,
          latest: this.log.length,
          latestAt: this.log.length,
        }
      },
    }
  }

  /** A room of `count` one-word changes; returns it and the text at change `at`. */
  function scripted(count: number, at: number) {
    const room = new ScriptedRoom()
    let before = ''
    for (let i = 1; i <= count; i++) {
      room.commit((t) => t.insert(t.length, `${i} `))
      if (i === at) before = room.text.toString()
    }
    return { room, before }
  }

  it('reads page after page from the store, then memory, and rebases over all of it', async () => {
    const { room, before } = scripted(2600, 3)
    room.memoryFrom = 2500
    const request = { edit: { index: 2, delete: 2, insert: 'two ' }, base: 3 }
    const answer = await applyTextEdit(room, room.store, request, null)
    expect(answer).toEqual({ changeId: 2601, index: 2 })
    expect(before.slice(2, 4)).toBe('2 ')
    expect(room.text.toString().startsWith('1 two 3 4 5 ')).toBe(true)
  })

  it('reads on when memory moves past what the store read reached while it was read', async () => {
    const { room } = scripted(1500, 1)
    room.memoryFrom = 1400
    let reads = 0
    room.onRead = () => {
      // While the first page is read, 2000 more changes come and memory forgets what it reached.
      if (reads++ > 0) return
      for (let i = 0; i < 2000; i++) room.commit((t) => t.insert(t.length, '.'))
      room.memoryFrom = 3400
    }
    const answer = await applyTextEdit(
      room,
      room.store,
      { edit: { index: 0, delete: 0, insert: '0 ' }, base: 1 },
      null,
    )
    expect(reads).toBe(4)
    expect(answer).toEqual({ changeId: 3501, index: 0 })
    expect(room.text.toString().startsWith('0 1 2 ')).toBe(true)
  })

  it('answers 409 base_expired when the store keeps no change right after base, or lacks a delta', async () => {
    const { room } = scripted(30, 1)
    room.memoryFrom = 25
    room.oldest = 12
    const request = (base: number) => ({ edit: { index: 0, delete: 0, insert: 'x' }, base })
    await expect(applyTextEdit(room, room.store, request(10), null)).rejects.toMatchObject({
      status: 409,
      code: 'base_expired',
    })
    expect((await applyTextEdit(room, room.store, request(11), null)).changeId).toBe(31)
    const store = {
      changesSince: async (r: string, after: number, limit: number) => {
        const read = await room.store.changesSince(r, after, limit)
        return { ...read, changes: read.changes.map((c) => ({ ...c, delta: c.id === 20 ? null : c.delta })) }
      },
    }
    await expect(applyTextEdit(room, store, request(15), null)).rejects.toMatchObject({ status: 409 })
  })

  it('takes a change stored without its delta yet from memory, and reads no further than the room', async () => {
    const { room, before } = scripted(30, 10)
    room.memoryFrom = 25
    // Another instance's changes: 27 sequenced here, its delta not yet stored; 31 and 32 stored, not yet heard.
    const store = {
      changesSince: async (r: string, after: number, limit: number) => {
        const read = await room.store.changesSince(r, after, limit)
        const ahead = [31, 32].map((id) => ({ id, at: id, author: null, delta: null }))
        const changes = [...read.changes, ...ahead].filter((c) => c.id > after).slice(0, limit)
        return { ...read, latest: 32, changes: changes.map((c) => (c.id === 27 ? { ...c, delta: null } : c)) }
      },
    }
    const request = { edit: { index: 2, delete: 2, insert: 'two ' }, base: 10 }
    expect(before.slice(2, 4)).toBe('2 ')
    expect(await applyTextEdit(room, store, request, null)).toEqual({ changeId: 31, index: 2 })
    expect(room.text.toString()).toBe(`1 two ${Array.from({ length: 28 }, (_, i) => `${i + 3} `).join('')}`)
  })
})
