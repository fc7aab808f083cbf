/**
 * The browser's side of the server's access API (PROTOCOL.md, "Access API"; the JSON types are
 * shared/protocol/access-api.ts): the preflight that asks what a link may do before the editor
 * connects, creating a room, and minting share links. Every answer is read defensively: a body that
 * is not what the contract says counts as no answer. `fetch` is injected so the module runs without
 * a browser.
 */

import {
  type AccessLevel,
  type AccessResponse,
  type CreateLinkRequest,
  type CreateLinkResponse,
  type CreateRoomResponse,
  isAccessLevel,
} from '../../shared/protocol/index.ts'

export type { AccessLevel }

/** A successful preflight: what this browser may do in the room right now (the server's answer). */
export type RoomAccess = AccessResponse

/**
 * The preflight's verdict. `granted`: open the editor with this access. `refused`: the server said
 * no (401/403) with a machine-readable `code` and a one-line `reason`. `noApi`: the server has no
 * access API (404, an older server): rooms are open. `unreachable`: no usable answer (offline, a
 * timeout, a 5xx, a malformed body); the caller falls back to what it last knew.
 */
export type Preflight =
  | { kind: 'granted'; access: RoomAccess }
  | { kind: 'refused'; status: number; code: string; reason: string }
  | { kind: 'noApi' }
  | { kind: 'unreachable'; reason: string }

/** A link the server minted: `url` is ready to share (it carries `#token=`). Null: not in the answer. */
export interface MintedLink extends Omit<CreateLinkResponse, 'jti' | 'expiresAt'> {
  jti: string | null
  expiresAt: number | null
}

/** A room the server created for this browser, with its admin link (no token when auth is off). */
export type CreatedRoom = Omit<CreateRoomResponse, 'jti'>

export type Fetch = typeof fetch

/** How long a preflight may take before the editor opens from what this browser last knew. */
export const PREFLIGHT_TIMEOUT_MS = 5000

/** Default lifetime of a minted share link: 7 days. */
export const DEFAULT_LINK_TTL_SECONDS = 7 * 24 * 60 * 60

/**
 * An expiry as milliseconds since the epoch. The server reports milliseconds; a value below 1e11
 * (which as milliseconds would be 1973) is read as unix seconds, as JWT `exp` claims are.
 */
const expiryMs = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? (value < 1e11 ? value * 1000 : value) : null
const optionalString = (value: unknown): string | null => (typeof value === 'string' ? value : null)

/** Reads a preflight body; null when it is not one. */
export function parseRoomAccess(body: unknown): RoomAccess | null {
  if (typeof body !== 'object' || body === null) return null
  const b = body as Record<string, unknown>
  if (typeof b.room !== 'string' || typeof b.auth !== 'boolean') return null
  if (!isAccessLevel(b.access) || !isAccessLevel(b.effectiveAccess)) return null
  return {
    room: b.room,
    auth: b.auth,
    access: b.access,
    effectiveAccess: b.effectiveAccess,
    mode: b.mode === 'view' ? 'view' : 'edit',
    expiresAt: expiryMs(b.expiresAt),
    jti: optionalString(b.jti),
  }
}

/** The `authorization` header carrying `token` (none without one). */
export const authHeaders = (token: string | null): Record<string, string> =>
  token ? { authorization: `Bearer ${token}` } : {}

/** The path of `room` in the HTTP API: `/api/rooms/<room>`. */
export const roomPath = (room: string) => `/api/rooms/${encodeURIComponent(room)}`

/** A response's JSON body, or null when it has none. */
export async function jsonBody(response: Response): Promise<unknown> {
  try {
    return await response.json()
  } catch {
    return null
  }
}

/** The server's refusal as `{code, reason}`, whatever shape its body has. */
export async function refusal(response: Response): Promise<{ code: string; reason: string }> {
  const body = (await jsonBody(response)) as Record<string, unknown> | null
  return {
    code: typeof body?.code === 'string' ? body.code : `http_${response.status}`,
    reason: typeof body?.error === 'string' ? body.error : response.statusText,
  }
}

/**
 * Asks the server what `token` (or no token) may do in `room`: `GET /api/rooms/<room>/access`.
 * Never throws; see `Preflight` for the verdicts.
 */
export async function preflight(
  room: string,
  token: string | null,
  fetchImpl: Fetch = fetch,
  timeoutMs = PREFLIGHT_TIMEOUT_MS,
): Promise<Preflight> {
  let response: Response
  try {
    response = await fetchImpl(`${roomPath(room)}/access`, {
      headers: authHeaders(token),
      cache: 'no-store',
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (error) {
    return { kind: 'unreachable', reason: String(error) }
  }
  if (response.status === 404) return { kind: 'noApi' }
  if (response.status === 401 || response.status === 403) {
    return { kind: 'refused', status: response.status, ...(await refusal(response)) }
  }
  if (!response.ok) return { kind: 'unreachable', reason: `HTTP ${response.status}` }
  const access = parseRoomAccess(await jsonBody(response))
  if (!access || access.room !== room) return { kind: 'unreachable', reason: 'malformed access answer' }
  return { kind: 'granted', access }
}

/**
 * Asks the server for a new room (`POST /api/rooms`). `created`: the room and its link (with an
 * admin token when the server controls access, none when it does not); `open`: the server has no
 * such API (404, an older server) or cannot be reached, so the client picks the id itself;
 * `failed`: the server refused (the reason is for the person).
 */
export async function createRoom(
  fetchImpl: Fetch = fetch,
): Promise<{ kind: 'created'; room: CreatedRoom } | { kind: 'open' } | { kind: 'failed'; reason: string }> {
  let response: Response
  try {
    response = await fetchImpl('/api/rooms', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS),
    })
  } catch {
    return { kind: 'open' }
  }
  if (response.status === 404 || response.status === 405) return { kind: 'open' }
  if (!response.ok) return { kind: 'failed', reason: (await refusal(response)).reason }
  const b = (await jsonBody(response)) as Record<string, unknown> | null
  if (typeof b?.room !== 'string' || typeof b.url !== 'string') {
    return { kind: 'failed', reason: 'the server answered with something that is not a room' }
  }
  return {
    kind: 'created',
    room: { room: b.room, token: optionalString(b.token), url: b.url, expiresAt: expiryMs(b.expiresAt) },
  }
}

/**
 * Mints a share link for `room` with the admin token: `POST /api/rooms/<room>/links`. Throws an
 * Error whose message is fit to show when the server refuses or cannot be reached.
 */
export async function createLink(
  room: string,
  adminToken: string,
  access: 'view' | 'edit',
  ttlSeconds = DEFAULT_LINK_TTL_SECONDS,
  fetchImpl: Fetch = fetch,
): Promise<MintedLink> {
  let response: Response
  try {
    response = await fetchImpl(`${roomPath(room)}/links`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(adminToken) },
      body: JSON.stringify({ access, ttlSeconds } satisfies CreateLinkRequest),
    })
  } catch {
    throw new Error('The server cannot be reached. Links can be made when you are back online.')
  }
  if (!response.ok) throw new Error((await refusal(response)).reason || `HTTP ${response.status}`)
  const b = (await jsonBody(response)) as Record<string, unknown> | null
  if (typeof b?.token !== 'string' || typeof b.url !== 'string') {
    throw new Error('The server answered with something that is not a link.')
  }
  return {
    token: b.token,
    url: b.url,
    jti: optionalString(b.jti),
    access: isAccessLevel(b.access) ? b.access : access,
    expiresAt: expiryMs(b.expiresAt),
  }
}
