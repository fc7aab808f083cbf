/**
 * The access a plain HTTP request has to a room, decided as for a WebSocket: by the server's
 * authenticate hook when one is given; else, with access control on, by a room token sent as
 * `Authorization: Bearer <token>` or `?token=` (the room's mode applied); else everyone may edit.
 * A refusal is thrown as an ApiError (401/403, the token check's kind as its code).
 *
 * The hook's types are restated here (ws/upgrade.ts `Authenticate`, `AccessGrant`): http/ does not
 * depend on ws/, which depends on it.
 */
import type { IncomingMessage } from 'node:http'
import type { AccessLevel } from '../../shared/protocol/index.ts'
import type { TokenAuthenticator } from '../auth/authenticator.ts'
import { ApiError } from './api-error.ts'

/** The token a request carried: its own access level, id and expiry (ms). */
export interface RequestToken {
  access: AccessLevel
  jti: string
  expiresAt: number
  /** The name the token was minted with, if any. */
  name?: string | null
}

/** What a request may do in a room now, and the token behind it (if any). */
export interface RequestGrant {
  access: AccessLevel
  token?: RequestToken
}

/** The server's authenticate hook, as requests call it. */
export type AuthenticateHook = (
  request: IncomingMessage,
  room: string,
  url: URL,
) =>
  | RequestGrant
  | { status: number; reason: string }
  | Promise<RequestGrant | { status: number; reason: string }>

/** Resolves with what the request may do in `room`; throws the refusal as an ApiError. */
export type RequestAccess = (req: IncomingMessage, room: string, url: URL) => Promise<RequestGrant>

/** Access by room token (`Authorization: Bearer` or `?token=`), the room's mode applied. */
export function tokenAccess(authenticator: TokenAuthenticator): RequestAccess {
  return async (req, room, url) => {
    const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i)?.[1]
    const result = await authenticator.check(bearer ?? url.searchParams.get('token'), room)
    if (!result.ok) throw new ApiError(result.refusal.status, result.refusal.kind, result.refusal.reason)
    const { access, jti, expiresAt, name } = result.claims
    return {
      access: await authenticator.effectiveAccess(room, access),
      token: { access, jti, expiresAt, name },
    }
  }
}

/** Access decided by the server's authenticate hook (`ServerHooks.authenticate`). */
export function hookAccess(authenticate: AuthenticateHook): RequestAccess {
  return async (req, room, url) => {
    const decision = await authenticate(req, room, url)
    if ('status' in decision) {
      throw new ApiError(
        decision.status,
        decision.status === 401 ? 'unauthorized' : 'forbidden',
        decision.reason,
      )
    }
    return decision
  }
}

/** Without access control: everyone may edit. */
export const openAccess: RequestAccess = async () => ({ access: 'edit' })

/** The access of a server's HTTP requests: its hook, else its token checks, else open. */
export function requestAccess(
  hook: AuthenticateHook | undefined,
  authenticator: TokenAuthenticator | null,
): RequestAccess {
  if (hook) return hookAccess(hook)
  return authenticator ? tokenAccess(authenticator) : openAccess
}
