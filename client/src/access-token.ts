/**
 * Where a room's access token lives in the browser. A link carries it in the URL fragment
 * (`/r/<room>#token=<jwt>`), which browsers never send to a server nor put in a Referer. The tab
 * keeps it in sessionStorage per room, so reloading `/r/<room>` without the fragment still works in
 * that tab. What the last successful preflight said is kept per room in localStorage, so an
 * offline reload opens the editor with the access the server last granted.
 */
import { parseRoomAccess, type RoomAccess } from './access-api.ts'

const TOKEN_KEY = (room: string) => `tandem:token:${room}`
const ACCESS_KEY = (room: string) => `tandem:access:${room}`

/** The `token` parameter of a URL fragment (`#token=…`, among other parameters or alone), or null. */
export function tokenFromHash(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get('token')
  return token ? token : null
}

/** `url` (absolute) with `token` in its fragment. */
export function withToken(url: string, token: string): string {
  return `${url.replace(/#.*$/, '')}#token=${encodeURIComponent(token)}`
}

/**
 * The token for `room`: the one in `hash` if any (remembered for this tab), else the one this tab
 * remembered earlier, else null. Storage that throws (some private modes) is treated as empty.
 */
export function resolveToken(room: string, hash: string, session: Storage | null): string | null {
  const fromLink = tokenFromHash(hash)
  try {
    if (fromLink) session?.setItem(TOKEN_KEY(room), fromLink)
    else return session?.getItem(TOKEN_KEY(room)) ?? null
  } catch {
    // Without storage the token lives only in the URL.
  }
  return fromLink
}

/** Remembers `token` for `room` in this tab. */
export function rememberToken(room: string, token: string, session: Storage | null): void {
  try {
    session?.setItem(TOKEN_KEY(room), token)
  } catch {
    // As above.
  }
}

/** Remembers what the server granted in `room`, for opening it offline later. */
export function cacheAccess(access: RoomAccess, storage: Storage | null): void {
  try {
    storage?.setItem(ACCESS_KEY(access.room), JSON.stringify(access))
  } catch {
    // A full or missing localStorage only costs the offline fallback.
  }
}

/** What the server last granted in `room`, or null. */
export function cachedAccess(room: string, storage: Storage | null): RoomAccess | null {
  try {
    const raw = storage?.getItem(ACCESS_KEY(room))
    if (!raw) return null
    const access = parseRoomAccess(JSON.parse(raw))
    return access?.room === room ? access : null
  } catch {
    return null
  }
}

/** This tab's sessionStorage, or null where reading it throws. */
export function safeSessionStorage(): Storage | null {
  try {
    return window.sessionStorage
  } catch {
    return null
  }
}
