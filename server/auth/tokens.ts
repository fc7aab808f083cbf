/**
 * Room tokens: JWTs signed with HS256 (jose) under the server's secret. Claims:
 *
 *   room    the room name the token opens
 *   access  'view' | 'edit' | 'admin'
 *   iat     issued at (seconds); exp - iat is the token's lifetime
 *   exp     expiry (seconds)
 *   jti     16 random bytes, base64url: the id an admin revokes
 *   name    optional: the holder's display name, what their writes are credited to (a presence
 *           name: at most 64 units, no control characters)
 *
 * `verifyRoomToken` never throws for a bad token: it returns why it is refused, as one of the kinds
 * the HTTP API reports (`token_invalid`, `token_expired`).
 */
import { randomBytes } from 'node:crypto'
import { errors, jwtVerify, SignJWT } from 'jose'
import {
  type AccessLevel,
  isAccessLevel,
  isPresenceName,
  isValidRoomName,
} from '../../shared/protocol/index.ts'

const ALGORITHM = 'HS256'
/** Shortest secret accepted: HS256 wants a key of at least 256 bits. */
export const MIN_SECRET_LENGTH = 32

/** What a valid token grants. */
export interface RoomTokenClaims {
  room: string
  access: AccessLevel
  /** Token id (revocation handle). */
  jti: string
  /** Expiry, ms since the epoch. */
  expiresAt: number
  /** Lifetime the token was minted with, in seconds. */
  lifetimeSeconds: number
  /** The holder's display name, when the token was minted with one. */
  name?: string
}

/** A freshly signed token and what it says. */
export interface MintedToken {
  token: string
  jti: string
  /** Expiry, ms since the epoch. */
  expiresAt: number
}

export type TokenCheck =
  | { ok: true; claims: RoomTokenClaims }
  | { ok: false; kind: 'token_invalid' | 'token_expired'; reason: string }

/** 16 random bytes in base64url (22 characters): token ids and new room ids. */
export function randomId(): string {
  return randomBytes(16).toString('base64url')
}

const keyOf = (secret: string): Uint8Array => new TextEncoder().encode(secret)

/** Signs a token for `room` with `access` that expires `ttlSeconds` from `now` (ms). */
export async function signRoomToken(
  secret: string,
  grant: { room: string; access: AccessLevel; ttlSeconds: number; name?: string },
  now = Date.now(),
): Promise<MintedToken> {
  if (grant.name !== undefined && !isTokenName(grant.name)) {
    throw new TypeError('name must be a presence name (1-64 characters, no controls)')
  }
  if (!isValidRoomName(grant.room)) throw new TypeError(`invalid room name "${grant.room}"`)
  if (!isAccessLevel(grant.access)) throw new TypeError(`invalid access "${String(grant.access)}"`)
  if (!Number.isInteger(grant.ttlSeconds) || grant.ttlSeconds <= 0) {
    throw new TypeError(`ttlSeconds must be a positive integer, got ${grant.ttlSeconds}`)
  }
  const jti = randomId()
  const iat = Math.floor(now / 1000)
  const exp = iat + grant.ttlSeconds
  const claims = grant.name === undefined ? {} : { name: grant.name }
  const token = await new SignJWT({ room: grant.room, access: grant.access, ...claims })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(keyOf(secret))
  return { token, jti, expiresAt: exp * 1000 }
}

/** Checks `token`'s signature, expiry (at `now`, ms) and claims; never throws for a bad token. */
export async function verifyRoomToken(secret: string, token: string, now = Date.now()): Promise<TokenCheck> {
  if (token.length > 4096) return { ok: false, kind: 'token_invalid', reason: 'token is malformed' }
  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: [ALGORITHM],
      currentDate: new Date(now),
      requiredClaims: ['exp', 'jti'],
    }))
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, kind: 'token_expired', reason: 'token expired' }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      return { ok: false, kind: 'token_invalid', reason: 'token signature is invalid' }
    }
    return { ok: false, kind: 'token_invalid', reason: 'token is malformed' }
  }
  const { room, access, jti, exp, iat, name } = payload
  if (
    (name !== undefined && !isTokenName(name)) ||
    typeof room !== 'string' ||
    !isValidRoomName(room) ||
    !isAccessLevel(access) ||
    typeof jti !== 'string' ||
    jti.length === 0 ||
    jti.length > 64 ||
    typeof exp !== 'number'
  ) {
    return { ok: false, kind: 'token_invalid', reason: 'token claims are invalid' }
  }
  const issuedAt = typeof iat === 'number' ? iat : Math.floor(now / 1000)
  return {
    ok: true,
    claims: {
      room,
      access,
      jti,
      expiresAt: exp * 1000,
      lifetimeSeconds: exp - issuedAt,
      ...(name === undefined ? {} : { name }),
    },
  }
}

/** True when `value` may be a token's `name` claim: a non-empty presence name. */
export function isTokenName(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '' && isPresenceName(value)
}

/** Link lifetimes are written as the server's duration options are (`30m`, `12h`, `7d`, `3600`). */
export { parseTtl } from '../config/values.ts'
