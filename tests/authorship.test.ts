/**
 * Authorship from the CRDT's own ids, through the real server: stock y-websocket clients with
 * presence names write, and GET /api/rooms/<room>/authors answers who wrote each span; a client id
 * reused by another identity is refused with 4409 (and over HTTP with 403 author_mismatch), nothing
 * of it applied; the server's own text edits are credited to the HTTP caller; bindings survive a
 * restart on the same SQLite file and hold across two instances (PostgreSQL + Redis, under CI); a
 * token's name claim names its holder.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { signRoomToken, verifyRoomToken } from '../server/auth/tokens.ts'
import { type ServerConfig, SqliteStore } from '../server/index.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import { SECRET } from './helpers/auth.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { redisSkipReason, TEST_REDIS_URL } from './helpers/redis.ts'
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

interface Authors {
  changeId: number
  length: number
  spans: Array<{ length: number; author: string | null }>
  authors: Array<{ key: string; name: string; color: string | null; chars: number }>
}

/** A server on SQLite at `db` (a temp file unless given), closed after the test. */
async function authoredServer(options: Partial<ServerConfig> & { db?: string } = {}): Promise<TestServer> {
  const server = await startServer(options)
  cleanups.push(() => server.close())
  return server
}

/** A stock client in `room` whose presence says `name` (set before it connects), synced. */
async function writer(
  server: TestServer,
  room: string,
  name: string,
  options: { doc?: Y.Doc; params?: Record<string, string>; wait?: boolean } = {},
) {
  const client = connectClient(server.url, room, { connect: false, doc: options.doc, params: options.params })
  cleanups.push(() => client.destroy())
  client.provider.awareness.setLocalStateField('user', { name, color: colorOf(name) })
  const codes = closeCodes(client)
  client.provider.connect()
  if (options.wait !== false) await synced(client)
  return { client, codes, doc: client.doc, text: client.doc.getText(ROOM_TEXT) }
}

const colorOf = (name: string) => `#${(name.charCodeAt(0) * 99999).toString(16).slice(-6).padStart(6, '0')}`

async function authorsOf(server: TestServer, room: string, token?: string): Promise<Authors> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const response = await fetch(`http://127.0.0.1:${server.port}/api/rooms/${room}/authors`, { headers })
  expect(response.status).toBe(200)
  return (await response.json()) as Authors
}

async function textOf(server: TestServer, room: string, token?: string): Promise<string> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  return (await fetch(`http://127.0.0.1:${server.port}/api/rooms/${room}/text`, { headers })).text()
}

async function post(server: TestServer, path: string, body: Uint8Array | object, headers = {}) {
  const bytes = body instanceof Uint8Array
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method: 'POST',
    headers: { 'content-type': bytes ? 'application/octet-stream' : 'application/json', ...headers },
    body: bytes ? new Uint8Array(body) : JSON.stringify(body),
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

/** Waits until the server's text of `room` is `expected`. */
const serverHas = (server: TestServer, room: string, expected: string, token?: string) =>
  waitFor(
    async () => (await textOf(server, room, token)) === expected,
    `the server's text to be "${expected}"`,
  )

/**
 * A document that holds `source`'s state and then writes `insert` at 0 under `source`'s client id
 * (what a stock client would do if it reused another's id), and the update of just that write.
 */
function reusing(source: Y.Doc, insert: string): { doc: Y.Doc; update: Uint8Array } {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(source))
  // Set after applying: Yjs gives a document a new id when a remote update carries its own.
  doc.clientID = source.clientID
  const before = Y.encodeStateVector(doc)
  doc.getText(ROOM_TEXT).insert(0, insert)
  return { doc, update: Y.encodeStateAsUpdate(doc, before) }
}

describe('authorship', () => {
  it('answers the spans of three writers, each with their characters', async () => {
    const server = await authoredServer()
    const ada = await writer(server, 'three', 'Ada')
    const bob = await writer(server, 'three', 'Bob')
    const cy = await writer(server, 'three', 'Cy')
    ada.text.insert(0, 'Hello ')
    await serverHas(server, 'three', 'Hello ')
    await waitFor(() => bob.text.length === 6, 'Bob to see Ada')
    bob.text.insert(6, 'big ')
    await serverHas(server, 'three', 'Hello big ')
    await waitFor(() => cy.text.length === 10, 'Cy to see Bob')
    cy.text.insert(10, 'world')
    ada.text.insert(0, '> ')
    await serverHas(server, 'three', '> Hello big world')
    const authors = await authorsOf(server, 'three')
    expect(authors.length).toBe(17)
    expect(authors.spans).toEqual([
      { length: 8, author: 'name:Ada' },
      { length: 4, author: 'name:Bob' },
      { length: 5, author: 'name:Cy' },
    ])
    expect(authors.authors).toEqual([
      { key: 'name:Ada', name: 'Ada', color: colorOf('Ada'), chars: 8 },
      { key: 'name:Cy', name: 'Cy', color: colorOf('Cy'), chars: 5 },
      { key: 'name:Bob', name: 'Bob', color: colorOf('Bob'), chars: 4 },
    ])
    expect(authors.changeId).toBeGreaterThanOrEqual(4)
    // A rename keeps the identity and names it anew once its writer writes again.
    cy.client.provider.awareness.setLocalStateField('user', { name: 'Cyril', color: colorOf('Cy') })
    await waitFor(
      () => [...ada.client.provider.awareness.getStates().values()].some((s) => s.user?.name === 'Cyril'),
      'the rename to reach Ada',
    )
    cy.text.insert(cy.text.length, '.')
    await serverHas(server, 'three', '> Hello big world.')
    const renamed = await authorsOf(server, 'three')
    expect(renamed.authors.find((author) => author.key === 'name:Cy')).toMatchObject({
      name: 'Cyril',
      chars: 6,
    })
    // Deleting carries no client id: Bob deletes part of Ada's text, the rest stays hers.
    await waitFor(() => bob.text.length === 18, 'Bob to see everything')
    bob.text.delete(0, 2)
    await serverHas(server, 'three', 'Hello big world.')
    expect((await authorsOf(server, 'three')).spans[0]).toEqual({ length: 6, author: 'name:Ada' })
  })

  it('refuses a client id reused by another identity with 4409, applying nothing', async () => {
    const server = await authoredServer()
    const adaDoc = new Y.Doc()
    adaDoc.clientID = 4242
    const ada = await writer(server, 'reuse', 'Ada', { doc: adaDoc })
    const watcher = await writer(server, 'reuse', 'Cy')
    ada.text.insert(0, 'mine')
    await serverHas(server, 'reuse', 'mine')
    const { doc, update } = reusing(adaDoc, 'X')
    // Over HTTP: 403, nothing applied.
    const refused = await post(server, '/api/rooms/reuse/update', update, { 'tandem-author': 'Bob' })
    expect(refused).toMatchObject({ status: 403, json: { code: 'author_mismatch' } })
    // Over a socket: the stock client sends it in its sync step 2 and is closed.
    const bob = await writer(server, 'reuse', 'Bob', { doc, wait: false })
    await waitFor(() => bob.codes.includes(CloseCode.authorMismatch), 'Bob to be closed with 4409')
    expect(await textOf(server, 'reuse')).toBe('mine')
    // Ada goes on writing under her id, and so does a client of hers that reuses it later.
    ada.text.insert(4, '!')
    await serverHas(server, 'reuse', 'mine!')
    const again = reusing(adaDoc, 'A')
    ada.client.destroy()
    // Once the server has let go of her old socket (and its awareness id).
    await waitFor(() => !watcher.client.provider.awareness.getStates().has(4242), 'Ada to leave')
    const adaAgain = await writer(server, 'reuse', 'Ada', { doc: again.doc })
    await serverHas(server, 'reuse', 'Amine!')
    expect(adaAgain.codes).toEqual([])
    expect((await authorsOf(server, 'reuse')).spans).toEqual([{ length: 6, author: 'name:Ada' }])
  })

  it('credits the text the server writes for an HTTP caller to the caller', async () => {
    const server = await authoredServer()
    const ada = await writer(server, 'http', 'Ada')
    // Three frames at once, each building on the one before: the first waits for its binding, the
    // others behind it, in order (out of order, 'b' would depend on what the room lacks: 4509).
    for (const char of 'abc') ada.text.insert(ada.text.length, char)
    await serverHas(server, 'http', 'abc')
    expect(ada.codes).toEqual([])
    const zed = { 'tandem-author': 'Zed' }
    expect((await post(server, '/api/rooms/http/text', { index: 3, insert: ' zed' }, zed)).status).toBe(200)
    expect((await post(server, '/api/rooms/http/text', { index: 7, insert: '!' }, zed)).status).toBe(200)
    expect((await post(server, '/api/rooms/http/text', { index: 0, insert: '> ' })).status).toBe(200)
    await waitFor(() => ada.text.toString() === '> abc zed!', 'Ada to see the HTTP edits')
    const authors = await authorsOf(server, 'http')
    expect(authors.spans).toEqual([
      { length: 2, author: 'name:HTTP API' },
      { length: 3, author: 'name:Ada' },
      { length: 5, author: 'name:Zed' },
    ])
    // One client id of the server's per caller, reused: Ada's, Zed's, the anonymous caller's.
    expect(ada.doc.store.clients.size).toBe(3)
    // Ada's client id is hers: an update of it over HTTP as Zed is refused.
    const { update } = reusing(ada.doc, 'Q')
    expect((await post(server, '/api/rooms/http/update', update, zed)).status).toBe(403)
  })

  it("credits an HTTP write sending the editor's Tandem-Author-Id as that browser's socket writes", async () => {
    const server = await authoredServer()
    const ada = await writer(server, 'browser-id', 'Ada')
    ada.client.provider.awareness.setLocalStateField('user', {
      id: 'browser-1',
      name: 'Ada',
      color: '#aa0000',
    })
    ada.text.insert(0, 'typed')
    await serverHas(server, 'browser-id', 'typed')
    const headers = { 'tandem-author': 'Ada', 'tandem-author-id': 'browser-1' }
    const written = await post(server, '/api/rooms/browser-id/text', { index: 5, insert: ' posted' }, headers)
    expect(written.status).toBe(200)
    const authors = await authorsOf(server, 'browser-id')
    expect(authors.spans).toEqual([{ length: 12, author: 'user:browser-1' }])
    expect(authors.authors.map((author) => author.key)).toEqual(['user:browser-1'])
    const bad = await post(
      server,
      '/api/rooms/browser-id/text',
      { index: 0, insert: 'x' },
      { 'tandem-author-id': 'a b' },
    )
    expect(bad.status).toBe(400)
  })

  it('keeps bindings across a restart on the same SQLite file', async () => {
    const temp = makeTempDir()
    cleanups.push(temp.cleanup)
    const db = join(temp.dir, 'kept.db')
    const first = await authoredServer({ db })
    const adaDoc = new Y.Doc()
    const ada = await writer(first, 'kept', 'Ada', { doc: adaDoc })
    ada.text.insert(0, 'before')
    await serverHas(first, 'kept', 'before')
    ada.client.destroy()
    await first.close()
    const second = await authoredServer({ db })
    expect((await authorsOf(second, 'kept')).spans).toEqual([{ length: 6, author: 'name:Ada' }])
    const { doc } = reusing(adaDoc, 'X')
    const bob = await writer(second, 'kept', 'Bob', { doc, wait: false })
    await waitFor(() => bob.codes.includes(CloseCode.authorMismatch), 'Bob to be closed with 4409')
    expect(await textOf(second, 'kept')).toBe('before')
  })

  it('shows text written before authorship was kept as unbound (null)', async () => {
    const temp = makeTempDir()
    cleanups.push(temp.cleanup)
    const db = join(temp.dir, 'legacy.db')
    const store = new SqliteStore(db)
    const old = new Y.Doc()
    old.getText(ROOM_TEXT).insert(0, 'old ')
    await store.append([{ room: 'legacy', update: Y.encodeStateAsUpdate(old) }])
    await store.close()
    const server = await authoredServer({ db })
    const ada = await writer(server, 'legacy', 'Ada')
    ada.text.insert(4, 'new')
    await serverHas(server, 'legacy', 'old new')
    // Asked twice: the second answer does not need the store again (the unbound id did not move).
    for (let i = 0; i < 2; i++) {
      expect((await authorsOf(server, 'legacy')).spans).toEqual([
        { length: 4, author: null },
        { length: 3, author: 'name:Ada' },
      ])
    }
  })

  it('names a token holder by the token: its id is the identity, its name claim the name', async () => {
    const server = await authoredServer({ authSecret: SECRET })
    const dana = await signRoomToken(SECRET, { room: 'tok', access: 'edit', ttlSeconds: 3600, name: 'Dana' })
    const plain = await signRoomToken(SECRET, { room: 'tok', access: 'edit', ttlSeconds: 3600 })
    const check = await verifyRoomToken(SECRET, dana.token)
    expect(check.ok && check.claims.name).toBe('Dana')
    await expect(
      signRoomToken(SECRET, { room: 'tok', access: 'edit', ttlSeconds: 60, name: 'a\nb' }),
    ).rejects.toThrow(TypeError)
    // Presence says otherwise: the token's name wins; without one, the presence name names it.
    const one = await writer(server, 'tok', 'Someone', { params: { token: dana.token } })
    one.text.insert(0, 'dana ')
    await serverHas(server, 'tok', 'dana ', dana.token)
    const two = await writer(server, 'tok', 'Eve', { params: { token: plain.token } })
    await waitFor(() => two.text.length === 5, 'Eve to sync')
    two.text.insert(5, 'eve')
    await serverHas(server, 'tok', 'dana eve', dana.token)
    const authors = await authorsOf(server, 'tok', dana.token)
    expect(authors.spans).toEqual([
      { length: 5, author: `token:${dana.jti}` },
      { length: 3, author: `token:${plain.jti}` },
    ])
    expect(authors.authors.map(({ key, name }) => ({ key, name }))).toEqual([
      { key: `token:${dana.jti}`, name: 'Dana' },
      { key: `token:${plain.jti}`, name: 'Eve' },
    ])
    // A link minted with a name carries it.
    const admin = await signRoomToken(SECRET, { room: 'tok', access: 'admin', ttlSeconds: 3600 })
    const link = await post(
      server,
      '/api/rooms/tok/links',
      { access: 'edit', name: 'Finn' },
      { authorization: `Bearer ${admin.token}` },
    )
    expect(link.status).toBe(201)
    const minted = await verifyRoomToken(SECRET, String(link.json.token))
    expect(minted.ok && minted.claims.name).toBe('Finn')
  })
})

describe('authorship across two instances', async () => {
  const skip = (await postgresSkipReason()) ?? (await redisSkipReason())
  it.skipIf(skip)(
    'binds once for both: a reuse on the other instance is refused, spans read there',
    async () => {
      const schema = freshSchemaName()
      cleanups.push(() => dropSchema(schema))
      const instance = async (prefix: string) => {
        const server = await startServer({
          databaseUrl: TEST_DATABASE_URL,
          databaseSchema: schema,
          redisUrl: TEST_REDIS_URL,
          redisPrefix: prefix,
        })
        cleanups.push(() => server.close())
        return server
      }
      const prefix = `authors-${schema}`
      const a = await instance(prefix)
      const b = await instance(prefix)
      // B has the room loaded before Ada binds her id on A.
      const watcher = await writer(b, 'two', 'Cy')
      const adaDoc = new Y.Doc()
      const ada = await writer(a, 'two', 'Ada', { doc: adaDoc })
      ada.text.insert(0, 'from a')
      await waitFor(() => watcher.text.toString() === 'from a', 'B to relay Ada')
      expect((await authorsOf(b, 'two')).spans).toEqual([{ length: 6, author: 'name:Ada' }])
      const { doc } = reusing(adaDoc, 'X')
      const bob = await writer(b, 'two', 'Bob', { doc, wait: false })
      await waitFor(() => bob.codes.includes(CloseCode.authorMismatch), 'Bob to be closed with 4409 on B')
      expect(await textOf(a, 'two')).toBe('from a')
    },
  )
})
