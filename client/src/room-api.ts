/**
 * Calls to one room's HTTP API from the editor (history, authors): the path under `/api/rooms/<room>`,
 * this browser's token as a bearer header (as the access API sends it), writes credited to the
 * person's presence name in `Tandem-Author`, and every failure as a `RoomApiError` whose message is
 * fit to show. `fetch` is injectable so the module runs without a browser.
 */
import { authHeaders, type Fetch, refusal, roomPath } from './access-api.ts'

/** A call that failed: `status` 0 when the server could not be reached; `code` as the server's JSON error. */
export class RoomApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'RoomApiError'
  }
}

/** Where and as whom the calls go. */
export interface RoomApi {
  readonly room: string
  readonly token: string | null
  /** The name writes are credited to (the presence name), read at each call; null: the server's default. */
  readonly author?: () => string | null
  /** This browser's presence `user.id`, sent as `Tandem-Author-Id` so writes are credited as its socket's are. */
  readonly authorId?: () => string | null
  readonly fetch?: Fetch
}

/** How long a call may take before it counts as unreachable. */
export const ROOM_API_TIMEOUT_MS = 15_000

/**
 * A header value carrying `text` as UTF-8: fetch only sends Latin-1 header values, and the server
 * reads the bytes back as the UTF-8 they are.
 */
export function utf8HeaderValue(text: string): string {
  let value = ''
  for (const byte of new TextEncoder().encode(text)) value += String.fromCharCode(byte)
  return value
}

/**
 * Calls `path` (below the room's path, e.g. `/versions`) with `method`, and a JSON `body` when given.
 * Resolves with the response when it is a 2xx; throws a RoomApiError otherwise.
 */
export async function roomRequest(
  api: RoomApi,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<Response> {
  const method = init.method ?? 'GET'
  const headers: Record<string, string> = { ...authHeaders(api.token) }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const author = method === 'GET' ? null : (api.author?.() ?? null)
  if (author) headers['tandem-author'] = utf8HeaderValue(author)
  const authorId = method === 'GET' ? null : (api.authorId?.() ?? null)
  if (authorId) headers['tandem-author-id'] = authorId
  let response: Response
  try {
    response = await (api.fetch ?? fetch)(`${roomPath(api.room)}${path}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      cache: 'no-store',
      signal: AbortSignal.timeout(ROOM_API_TIMEOUT_MS),
    })
  } catch {
    throw new RoomApiError(0, 'unreachable', 'The server cannot be reached. Try again when you are online.')
  }
  if (response.ok) return response
  const { code, reason } = await refusal(response)
  throw new RoomApiError(response.status, code, reason || `The server answered HTTP ${response.status}.`)
}
