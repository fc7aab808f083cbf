/**
 * The JSON of the access HTTP API (`/api/rooms…`, PROTOCOL.md "Access API"), as the server sends it
 * (server/http/access-api.ts) and the browser reads it (client/src/access-api.ts). `expiresAt` is
 * milliseconds since the epoch; with access control off the server answers without tokens (`token`,
 * `jti`, `expiresAt` null).
 *
 *   POST /api/rooms                  CreateRoomRequest  -> 201 (200 with auth off) CreateRoomResponse
 *   GET  /api/rooms/<room>/access    Bearer token       -> 200 AccessResponse
 *   POST /api/rooms/<room>/links     CreateLinkRequest  -> 201 CreateLinkResponse
 *   POST /api/rooms/<room>/revoke    RevokeRequest      -> 200 RevokeResponse
 *   PUT  /api/rooms/<room>/mode      SetModeRequest     -> 200 SetModeResponse
 *   any refusal                                         -> 4xx ApiErrorResponse
 */
import type { AccessLevel } from './messages.ts'

/** A room's mode: `view` turns every edit token into a view token until it is set back to `edit`. */
export type RoomMode = 'edit' | 'view'

export const isRoomMode = (value: unknown): value is RoomMode => value === 'edit' || value === 'view'

/** `POST /api/rooms`: the admin link's lifetime (default: the server's `defaultLinkTtlSeconds`). */
export interface CreateRoomRequest {
  ttlSeconds?: number
}

/** A new random room and its admin link (`url` carries `#token=` when there is a token). */
export interface CreateRoomResponse {
  room: string
  token: string | null
  url: string
  jti: string | null
  expiresAt: number | null
}

/** `GET /api/rooms/<room>/access`: what the request's token (or no token) may do in the room now. */
export interface AccessResponse {
  room: string
  /** False when the server runs without access control: everyone may edit, links carry no token. */
  auth: boolean
  /** What the token grants. */
  access: AccessLevel
  /** What it grants in the room's current mode (an edit token in a view-mode room is `view`). */
  effectiveAccess: AccessLevel
  mode: RoomMode
  expiresAt: number | null
  jti: string | null
}

/** `POST /api/rooms/<room>/links` (admin): a link granting `access` for `ttlSeconds`. */
export interface CreateLinkRequest {
  access: AccessLevel
  ttlSeconds?: number
  /** The holder's name: what their writes are credited to (a presence name, 1-64 characters, no controls). */
  name?: string
}

/** A minted link: `url` is ready to share (it carries `#token=`). */
export interface CreateLinkResponse {
  token: string
  url: string
  jti: string
  access: AccessLevel
  expiresAt: number
}

/** `POST /api/rooms/<room>/revoke` (admin): the token id to revoke. */
export interface RevokeRequest {
  jti: string
}

/** The revoked id, and how many open connections with it were closed (on this instance). */
export interface RevokeResponse {
  revoked: string
  closed: number
}

/** `PUT /api/rooms/<room>/mode` (admin). */
export interface SetModeRequest {
  mode: RoomMode
}

export interface SetModeResponse {
  mode: RoomMode
}

/** A refusal: a one-line reason and a stable kind (`bad_request`, `not_admin`, `rate_limited`...). */
export interface ApiErrorResponse {
  error: string
  code: string
}
