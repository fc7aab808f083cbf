/**
 * The client's access control without a browser: tokens from the link's fragment and per-tab
 * storage, the access API client against a scripted `fetch`, the texts a person reads, the `access`
 * messages and access closes on a never-connected provider, and the read-only editor state.
 */
import { EditorState } from '@codemirror/state'
import * as decoding from 'lib0/decoding'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import {
  createLink,
  createRoom,
  DEFAULT_LINK_TTL_SECONDS,
  type Fetch,
  parseRoomAccess,
  preflight,
  type RoomAccess,
} from '../client/src/access-api.ts'
import { accessCloseText, isAccessClose, linkScope, refusalText } from '../client/src/access-messages.ts'
import { type AccessState, RECHECK_INTERVAL_MS, watchAccess } from '../client/src/access-status.ts'
import {
  cacheAccess,
  cachedAccess,
  rememberToken,
  resolveToken,
  tokenFromHash,
  withToken,
} from '../client/src/access-token.ts'
import { readOnlyMode } from '../client/src/read-only.ts'
import { CloseCode, encodeAccess, MessageType } from '../shared/protocol/index.ts'

/** A Storage kept in a Map. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>()
  get length() {
    return this.items.size
  }
  clear() {
    this.items.clear()
  }
  getItem(key: string) {
    return this.items.get(key) ?? null
  }
  key(index: number) {
    return [...this.items.keys()][index] ?? null
  }
  removeItem(key: string) {
    this.items.delete(key)
  }
  setItem(key: string, value: string) {
    this.items.set(key, value)
  }
}

const GRANT: RoomAccess = {
  room: 'room-1',
  auth: true,
  access: 'edit',
  effectiveAccess: 'edit',
  mode: 'edit',
  expiresAt: 1_900_000_000_000,
  jti: 'j1',
}

/** A fetch that records its calls and answers with `answer(url, init)`. */
function scriptedFetch(answer: (url: string, init: RequestInit) => Response | Promise<Response>) {
  const calls: Array<{ url: string; init: RequestInit }> = []
  const impl = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    calls.push({ url: String(input), init })
    return answer(String(input), init)
  }) as Fetch
  return { impl, calls }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

const headerOf = (init: RequestInit, name: string) => new Headers(init.headers).get(name)

describe('tokens in the link and the tab', () => {
  it('reads the token from the fragment, alone or among other parameters', () => {
    expect(tokenFromHash('#token=abc.def.ghi')).toBe('abc.def.ghi')
    expect(tokenFromHash('#x=1&token=a-b_c')).toBe('a-b_c')
    expect(tokenFromHash('')).toBeNull()
    expect(tokenFromHash('#token=')).toBeNull()
    expect(tokenFromHash('#heading')).toBeNull()
  })

  it('puts a token into a link, replacing any fragment', () => {
    expect(withToken('http://h/r/a', 'x.y.z')).toBe('http://h/r/a#token=x.y.z')
    expect(withToken('http://h/r/a#token=old', 'new')).toBe('http://h/r/a#token=new')
  })

  it('remembers the link token per room, so a reload without the fragment keeps it', () => {
    const session = new MemoryStorage()
    expect(resolveToken('a', '', session)).toBeNull()
    expect(resolveToken('a', '#token=t1', session)).toBe('t1')
    expect(resolveToken('a', '', session)).toBe('t1')
    expect(resolveToken('b', '', session)).toBeNull()
    // A new link replaces what the tab had.
    expect(resolveToken('a', '#token=t2', session)).toBe('t2')
    expect(resolveToken('a', '', session)).toBe('t2')
    rememberToken('b', 'tb', session)
    expect(resolveToken('b', '', session)).toBe('tb')
  })

  it('works without storage, and with storage that throws', () => {
    expect(resolveToken('a', '#token=t', null)).toBe('t')
    const broken = new MemoryStorage()
    broken.setItem = () => {
      throw new Error('quota')
    }
    broken.getItem = () => {
      throw new Error('denied')
    }
    expect(resolveToken('a', '#token=t', broken)).toBe('t')
    expect(resolveToken('a', '', broken)).toBeNull()
    expect(() => cacheAccess(GRANT, broken)).not.toThrow()
    expect(cachedAccess('room-1', broken)).toBeNull()
  })

  it('caches the last granted access per room and ignores garbage', () => {
    const storage = new MemoryStorage()
    expect(cachedAccess('room-1', storage)).toBeNull()
    cacheAccess(GRANT, storage)
    expect(cachedAccess('room-1', storage)).toEqual(GRANT)
    expect(cachedAccess('room-2', storage)).toBeNull()
    storage.setItem('tandem:access:room-2', '{"room":"room-2","auth":true,"access":"root"}')
    expect(cachedAccess('room-2', storage)).toBeNull()
    storage.setItem('tandem:access:room-3', 'not json')
    expect(cachedAccess('room-3', storage)).toBeNull()
  })
})

describe('the access API client', () => {
  it('reads only well-formed access answers', () => {
    expect(parseRoomAccess(GRANT)).toEqual(GRANT)
    // An expiry in unix seconds (as JWT claims have it) is read as such.
    expect(parseRoomAccess({ ...GRANT, expiresAt: 1_900_000_000 })?.expiresAt).toBe(1_900_000_000_000)
    expect(parseRoomAccess({ ...GRANT, expiresAt: null, jti: undefined })).toEqual({
      ...GRANT,
      expiresAt: null,
      jti: null,
    })
    expect(parseRoomAccess({ ...GRANT, effectiveAccess: 'owner' })).toBeNull()
    expect(parseRoomAccess({ ...GRANT, auth: 'yes' })).toBeNull()
    expect(parseRoomAccess(null)).toBeNull()
    expect(parseRoomAccess('edit')).toBeNull()
  })

  it('preflights with the token as a bearer header, and without a header when there is none', async () => {
    const { impl, calls } = scriptedFetch(() => json(200, GRANT))
    expect(await preflight('room-1', 'tok', impl)).toEqual({ kind: 'granted', access: GRANT })
    expect(calls[0].url).toBe('/api/rooms/room-1/access')
    expect(headerOf(calls[0].init, 'authorization')).toBe('Bearer tok')
    await preflight('room-1', null, impl)
    expect(headerOf(calls[1].init, 'authorization')).toBeNull()
  })

  it('turns 401 and 403 into refusals with the code and the one-line reason', async () => {
    const expired = scriptedFetch(() => json(401, { error: 'token expired', code: 'token_expired' }))
    expect(await preflight('room-1', 'tok', expired.impl)).toEqual({
      kind: 'refused',
      status: 401,
      code: 'token_expired',
      reason: 'token expired',
    })
    const plain = scriptedFetch(() => new Response('origin not allowed\n', { status: 403 }))
    expect(await preflight('room-1', 'tok', plain.impl)).toMatchObject({ kind: 'refused', code: 'http_403' })
  })

  it('tells an older server (404) from one that cannot be reached or answers nonsense', async () => {
    expect(await preflight('r', null, scriptedFetch(() => new Response('', { status: 404 })).impl)).toEqual({
      kind: 'noApi',
    })
    const offline = scriptedFetch(() => {
      throw new TypeError('Failed to fetch')
    })
    expect((await preflight('r', null, offline.impl)).kind).toBe('unreachable')
    expect((await preflight('r', null, scriptedFetch(() => json(503, {})).impl)).kind).toBe('unreachable')
    expect((await preflight('r', null, scriptedFetch(() => json(200, { room: 'r' })).impl)).kind).toBe(
      'unreachable',
    )
    // An answer about another room is no answer.
    expect((await preflight('other', null, scriptedFetch(() => json(200, GRANT)).impl)).kind).toBe(
      'unreachable',
    )
  })

  it('creates a room when the server controls access, and falls back to a local id otherwise', async () => {
    const made = { room: 'abc', token: 't', url: 'http://h/r/abc#token=t', jti: 'j', expiresAt: 2e12 }
    const server = scriptedFetch(() => json(201, made))
    expect(await createRoom(server.impl)).toEqual({
      kind: 'created',
      room: { room: 'abc', token: 't', url: made.url, expiresAt: 2e12 },
    })
    // Without access control the server still picks the room, and the link has no token.
    const open = { room: 'abc', token: null, url: 'http://h/r/abc', jti: null, expiresAt: null }
    expect(await createRoom(scriptedFetch(() => json(200, open)).impl)).toEqual({
      kind: 'created',
      room: { room: 'abc', token: null, url: open.url, expiresAt: null },
    })
    expect(server.calls[0]).toMatchObject({ url: '/api/rooms', init: { method: 'POST' } })
    expect(await createRoom(scriptedFetch(() => new Response('', { status: 404 })).impl)).toEqual({
      kind: 'open',
    })
    const offline = scriptedFetch(() => {
      throw new TypeError('Failed to fetch')
    })
    expect(await createRoom(offline.impl)).toEqual({ kind: 'open' })
    expect(await createRoom(scriptedFetch(() => json(429, { error: 'too many rooms' })).impl)).toEqual({
      kind: 'failed',
      reason: 'too many rooms',
    })
  })

  it('mints links with the admin token, and says why when it cannot', async () => {
    const link = { token: 'v', url: 'http://h/r/a#token=v', jti: 'j2', access: 'view', expiresAt: 9e12 }
    const server = scriptedFetch(() => json(201, link))
    expect(await createLink('a', 'admin-tok', 'view', undefined, server.impl)).toEqual(link)
    const { url, init } = server.calls[0]
    expect(url).toBe('/api/rooms/a/links')
    expect(init.method).toBe('POST')
    expect(headerOf(init, 'authorization')).toBe('Bearer admin-tok')
    expect(JSON.parse(String(init.body))).toEqual({ access: 'view', ttlSeconds: DEFAULT_LINK_TTL_SECONDS })
    const refused = scriptedFetch(() => json(403, { error: 'only admins can share', code: 'forbidden' }))
    await expect(createLink('a', 'edit-tok', 'edit', 60, refused.impl)).rejects.toThrow(
      'only admins can share',
    )
    const offline = scriptedFetch(() => {
      throw new TypeError('Failed to fetch')
    })
    await expect(createLink('a', 't', 'edit', 60, offline.impl)).rejects.toThrow(/back online/)
  })
})

describe('what a person reads', () => {
  it('explains every refusal code in words, and falls back to the server reason', () => {
    expect(refusalText('token_expired', '').title).toBe('This link has expired')
    expect(refusalText('token_expired', '').detail).toMatch(/new link/)
    expect(refusalText('token_revoked', '').title).toBe('This link was revoked')
    expect(refusalText('token_missing', '').title).toMatch(/missing its access key/)
    expect(refusalText('token_invalid', '').title).toBe('This link is not valid')
    expect(refusalText('wrong_room', '').title).toBe('This link is for a different document')
    expect(refusalText('http_403', 'origin not allowed').detail).toBe('The server said: origin not allowed')
  })

  it('names the access closes and only them', () => {
    expect(accessCloseText(CloseCode.tokenExpired)?.title).toBe('This link has expired.')
    expect(accessCloseText(CloseCode.revoked)?.title).toBe('This link was revoked.')
    expect(accessCloseText(CloseCode.forbidden)?.title).toBe('This link cannot edit.')
    expect(accessCloseText(CloseCode.malformedMessage)).toBeNull()
    expect(isAccessClose(CloseCode.revoked)).toBe(true)
    expect(isAccessClose(CloseCode.limitExceeded)).toBe(false)
    expect(isAccessClose(null)).toBe(false)
  })

  it('says what a shared link lets its holder do', () => {
    expect(linkScope('view', null)).toBe('Anyone with it can read, but not edit.')
    expect(linkScope('edit', null)).toBe('Anyone with it can edit.')
    expect(linkScope('edit', Date.UTC(2030, 0, 2), Date.UTC(2030, 0, 1))).toMatch(
      /^Anyone with it can edit, until .*2.*\.$/,
    )
  })
})

class NoSocket {
  constructor() {
    throw new Error('the unit test never connects')
  }
}

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

function watched(initial: 'view' | 'edit' | 'admin' | null, recheck?: Parameters<typeof watchAccess>[2]) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider('ws://unused', 'room', doc, {
    connect: false,
    disableBc: true,
    WebSocketPolyfill: NoSocket as unknown as typeof WebSocket,
  })
  let clock = 0
  const status = watchAccess(provider, initial, recheck, () => clock)
  const seen: AccessState[] = []
  status.subscribe((state) => seen.push(state))
  cleanups.push(() => {
    status.stop()
    provider.destroy()
    doc.destroy()
  })
  const deliver = (bytes: Uint8Array) => {
    const decoder = decoding.createDecoder(bytes)
    const type = decoding.readVarUint(decoder)
    provider.messageHandlers[type](null as never, decoder, provider, true, type)
  }
  const failedAttempt = () => provider.emit('connection-close', [{ code: 1006 } as CloseEvent, provider])
  const advance = (ms: number) => {
    clock += ms
  }
  return { provider, status, seen, deliver, failedAttempt, advance }
}

describe('watchAccess', () => {
  it('starts from the preflight and follows the access messages', () => {
    const { status, seen, deliver } = watched('edit')
    expect(status.state).toEqual({ access: 'edit', ended: null })
    deliver(encodeAccess('view'))
    deliver(encodeAccess('view'))
    deliver(encodeAccess('edit'))
    expect(seen.map((s) => s.access)).toEqual(['view', 'edit'])
    expect([...encodeAccess('view')].slice(0, 2)).toEqual([MessageType.access, 4])
  })

  it('ignores a malformed access message instead of throwing', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    cleanups.push(() => warn.mockRestore())
    const { status, deliver } = watched(null)
    expect(() => deliver(new Uint8Array([102, 4, ...new TextEncoder().encode('root')]))).not.toThrow()
    expect(() => deliver(new Uint8Array([102]))).not.toThrow()
    expect(status.state.access).toBeNull()
    expect(warn).toHaveBeenCalledTimes(2)
  })

  it('ends on an access close, stops the provider, and then ignores everything', () => {
    const { provider, status, deliver } = watched('edit')
    provider.shouldConnect = true
    provider.emit('closed', [{ code: CloseCode.limitExceeded, reason: '' }, provider])
    expect(status.state.ended).toBeNull()
    provider.emit('closed', [{ code: CloseCode.revoked, reason: 'revoked' }, provider])
    expect(status.state.ended).toMatchObject({ title: 'This link was revoked.', code: '4410' })
    expect(provider.shouldConnect).toBe(false)
    deliver(encodeAccess('admin'))
    expect(status.state.access).toBe('edit')
  })

  it('asks the access API again when attempts fail before opening, at most every few seconds', async () => {
    const recheck = vi.fn(async () => ({ kind: 'unreachable' as const, reason: 'offline' }))
    const { failedAttempt, advance, provider } = watched('edit', recheck)
    failedAttempt()
    await Promise.resolve()
    failedAttempt()
    expect(recheck).toHaveBeenCalledTimes(1)
    advance(RECHECK_INTERVAL_MS)
    await new Promise((resolve) => setTimeout(resolve, 0))
    failedAttempt()
    expect(recheck).toHaveBeenCalledTimes(2)
    // A socket that had opened is not a refused upgrade; a local close (null) is not either.
    advance(RECHECK_INTERVAL_MS)
    await new Promise((resolve) => setTimeout(resolve, 0))
    provider.wsconnected = true
    failedAttempt()
    provider.wsconnected = false
    provider.emit('connection-close', [null, provider])
    expect(recheck).toHaveBeenCalledTimes(2)
  })

  it('ends with the refusal when the re-check is refused (a token expired while offline)', async () => {
    const recheck = async () => ({
      kind: 'refused' as const,
      status: 401,
      code: 'token_expired',
      reason: 'token expired',
    })
    const { status, failedAttempt, provider } = watched('edit', recheck)
    provider.shouldConnect = true
    failedAttempt()
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(status.state.ended).toMatchObject({ title: 'This link has expired.', code: 'token_expired' })
    expect(provider.shouldConnect).toBe(false)
  })

  it('takes a granted re-check as the current access', async () => {
    const recheck = async () => ({
      kind: 'granted' as const,
      access: { ...GRANT, effectiveAccess: 'view' as const },
    })
    const { status, failedAttempt } = watched('edit', recheck)
    failedAttempt()
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(status.state).toEqual({ access: 'view', ended: null })
  })

  it('stops listening', () => {
    const { provider, status, seen } = watched('edit')
    status.stop()
    expect(provider.messageHandlers[MessageType.access]).toBeUndefined()
    provider.emit('closed', [{ code: CloseCode.revoked, reason: '' }, provider])
    expect(seen).toEqual([])
  })
})

describe('read-only mode', () => {
  it('makes the state read-only only when asked', () => {
    expect(EditorState.create({ extensions: readOnlyMode(true) }).readOnly).toBe(true)
    expect(EditorState.create({ extensions: readOnlyMode(false) }).readOnly).toBe(false)
    expect(EditorState.create({ extensions: readOnlyMode() }).readOnly).toBe(false)
  })
})
