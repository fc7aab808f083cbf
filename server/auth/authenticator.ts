/**
 * Token checks for a room, shared by the WebSocket upgrade (the `authenticate` hook) and the HTTP
 * access API: signature and expiry (tokens.ts), the room the token names, the longest lifetime the
 * server accepts (so a revocation can be pruned once no token with its id can be valid), and the
 * room's revocations (room-policy.ts). A refusal carries the HTTP status, a stable kind and a
 * one-line reason.
 */
import type { IncomingMessage } from 'node:http'
import type { AccessLevel } from '../../shared/protocol/index.ts'
import type { AuthDecision, Authenticate } from '../ws/upgrade.ts'
import { effectiveAccess, type RoomPolicies } from './room-policy.ts'
import { type RoomTokenClaims, verifyRoomToken } from './tokens.ts'

export type RefusalKind = 'token_missing' | 'token_invalid' | 'token_expired' | 'token_revoked' | 'wrong_room'

/** Why a token does not open a room. */
export interface TokenRefusal {
  status: 401 | 403
  kind: RefusalKind
  reason: string
}

export type RoomTokenCheck = { ok: true; claims: RoomTokenClaims } | { ok: false; refusal: TokenRefusal }

const refuse = (status: 401 | 403, kind: RefusalKind, reason: string): RoomTokenCheck => ({
  ok: false,
  refusal: { status, kind, reason },
})

export class TokenAuthenticator {
  constructor(
    private readonly secret: string,
    readonly policies: RoomPolicies,
    /** Longest token lifetime accepted, in seconds. */
    readonly maxLifetimeSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Checks that `token` (null when none was sent) opens `room`. */
  async check(token: string | null, room: string): Promise<RoomTokenCheck> {
    if (!token) return refuse(401, 'token_missing', 'token required')
    const result = await verifyRoomToken(this.secret, token, this.now())
    if (!result.ok) return refuse(401, result.kind, result.reason)
    const { claims } = result
    if (claims.lifetimeSeconds > this.maxLifetimeSeconds) {
      return refuse(401, 'token_invalid', 'token lives longer than this server accepts')
    }
    if (claims.room !== room) return refuse(403, 'wrong_room', 'token is for another room')
    if (await this.policies.isRevoked(room, claims.jti)) return refuse(401, 'token_revoked', 'token revoked')
    return { ok: true, claims }
  }

  /** What the token's holder may do in the room now (the room's mode applied). */
  async effectiveAccess(room: string, access: AccessLevel): Promise<AccessLevel> {
    return effectiveAccess(access, await this.policies.mode(room))
  }

  /** The upgrade hook: the `token` query parameter must open the room. */
  readonly authenticate: Authenticate = async (_request: IncomingMessage, room: string, url: URL) => {
    const result = await this.check(url.searchParams.get('token'), room)
    if (!result.ok) return { status: result.refusal.status, reason: result.refusal.reason }
    const { claims } = result
    const decision: AuthDecision = {
      access: await this.effectiveAccess(room, claims.access),
      token: { access: claims.access, jti: claims.jti, expiresAt: claims.expiresAt, name: claims.name },
    }
    return decision
  }
}
