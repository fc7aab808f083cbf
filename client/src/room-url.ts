/**
 * Room ids and the URLs that carry them: `/` starts a new room, `/r/<id>` opens one, `/r/<id>/live`
 * shows it live and read-only. A new id is 16 random bytes (128 bits) in base64url, so it is
 * unguessable and a valid relay room name.
 */
import { isValidRoomName } from '../../shared/protocol/index.ts'

/** Path prefix of a document page. */
export const ROOM_PATH_PREFIX = '/r/'

/** A fresh unguessable room id: 22 base64url characters. */
export function newRoomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** What a location path asks for: a new room, an existing one, or something that is not a room. */
export type Route = { kind: 'new' } | { kind: 'room'; id: string } | { kind: 'invalid'; id: string }

/** Parses a location pathname into a route. */
export function routeFor(pathname: string): Route {
  if (pathname === '/' || pathname === '' || pathname === '/index.html') return { kind: 'new' }
  if (!pathname.startsWith(ROOM_PATH_PREFIX)) return { kind: 'invalid', id: pathname }
  const id = pathname.slice(ROOM_PATH_PREFIX.length).replace(/\/$/, '')
  return isValidRoomName(id) ? { kind: 'room', id } : { kind: 'invalid', id }
}

/** Path suffix of a room's live page (read-only, over the change feed: live-page.ts). */
export const LIVE_PATH_SUFFIX = '/live'

/** The room of a live page's pathname (`/r/<room>/live`), or null when it is not one. */
export function liveRoomFor(pathname: string): string | null {
  const match = /^\/r\/([^/]+)\/live\/?$/.exec(pathname)
  return match && isValidRoomName(match[1]) ? match[1] : null
}

/** The live page's URL for a room link (`…/r/<room>`, with or without a fragment). */
export function liveUrl(roomLink: string): string {
  const url = new URL(roomLink)
  url.pathname = `${url.pathname.replace(/\/$/, '')}${LIVE_PATH_SUFFIX}`
  return url.href
}

/** Absolute URL of a room's page on `origin`. */
export const roomUrl = (origin: string, id: string): string => `${origin}${ROOM_PATH_PREFIX}${id}`

/** The relay's base URL for a page served from `location` (same host, ws or wss). */
export const relayUrl = (location: Pick<Location, 'protocol' | 'host'>): string =>
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
