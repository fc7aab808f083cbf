/**
 * The access HTTP API, `/api/rooms…` (JSON in, JSON out; errors as `{error, code}` with a one-line
 * reason). Routes and bodies: PROTOCOL.md "Access API"; the body types are shared with the client
 * (shared/protocol/access-api.ts). `links`, `revoke` and `mode` need an admin token of the room.
 *
 * Without a secret (auth off) `POST /api/rooms` answers 200 with a plain room URL (token, jti and
 * expiresAt null), `GET …/access` says everyone may edit, and the admin routes answer 404
 * `auth_off`. Bodies are at most 4 KiB of `application/json`; POST and PUT from an Origin outside
 * `allowedOrigins` get 403. `expiresAt` is milliseconds since the epoch.
 *
 * Bounds: `POST /api/rooms` is rate-limited per client address (`roomCreationsPerMinute`/`Burst`),
 * the admin routes per client address and per room (`adminRequestsPerMinute`/`Burst`), each
 * answering 429 `rate_limited` with Retry-After (seconds); a room holds at most
 * `maxRevocationsPerRoom` live revocations, past which a revoke answers 409 `revocations_full`.
 * A revocation or mode change is saved in the store and announced to every instance
 * (room-policy.ts) before it is answered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import {
  type AccessLevel,
  type AccessResponse,
  type ApiErrorResponse,
  type CreateLinkRequest,
  type CreateLinkResponse,
  type CreateRoomRequest,
  type CreateRoomResponse,
  isAccessLevel,
  isRoomMode,
  type RevokeRequest,
  type RevokeResponse,
  roomNameProblem,
  type SetModeRequest,
  type SetModeResponse,
} from '../../shared/protocol/index.ts'
import type { TokenAuthenticator } from '../auth/authenticator.ts'
import type { LiveAccess } from '../auth/live-access.ts'
import { isTokenName, randomId, signRoomToken } from '../auth/tokens.ts'
import type { ServerConfig } from '../config/config.ts'
import { KeyedRateLimit } from '../limits/keyed-rate-limit.ts'
import { clientAddress, originProblem } from '../limits/upgrade-limits.ts'
import { sendJson } from './http-routes.ts'

/** Largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 4 * 1024

const PREFIX = '/api/rooms'

/** A request body as received: the fields of `T`, each not yet checked. */
type Unchecked<T> = { [K in keyof T]?: unknown }

/** A refusal: the HTTP status, a stable kind (`code`) and a one-line reason, sent as ApiErrorResponse. */
class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface AccessApiOptions {
  config: Pick<
    ServerConfig,
    | 'publicUrl'
    | 'defaultLinkTtlSeconds'
    | 'maxLinkTtlSeconds'
    | 'allowedOrigins'
    | 'authSecret'
    | 'trustProxy'
    | 'maxRevocationsPerRoom'
    | 'adminRequestsPerMinute'
    | 'adminRequestBurst'
    | 'roomCreationsPerMinute'
    | 'roomCreationBurst'
  >
  /** Null when auth is off. */
  auth: { authenticator: TokenAuthenticator; live: LiveAccess } | null
  log: Logger
}

/** Returns an HttpRoutes fallback that answers `/api/rooms…` and declines everything else. */
export function createAccessApi(options: AccessApiOptions) {
  const api = new AccessApi(options)
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (url.pathname !== PREFIX && !url.pathname.startsWith(`${PREFIX}/`)) return false
    try {
      await api.handle(req, res, url)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      if (err.status === 413) res.setHeader('connection', 'close')
      sendJson(res, err.status, { error: err.message, code: err.code } satisfies ApiErrorResponse)
    }
    return true
  }
}

class AccessApi {
  private readonly creations: KeyedRateLimit
  private readonly adminByAddress: KeyedRateLimit
  private readonly adminByRoom: KeyedRateLimit

  constructor(private readonly options: AccessApiOptions) {
    const { config } = options
    this.creations = new KeyedRateLimit({
      perMinute: config.roomCreationsPerMinute,
      burst: config.roomCreationBurst,
    })
    const admin = { perMinute: config.adminRequestsPerMinute, burst: config.adminRequestBurst }
    this.adminByAddress = new KeyedRateLimit(admin)
    this.adminByRoom = new KeyedRateLimit(admin)
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.slice(PREFIX.length).split('/').filter(Boolean)
    if (parts.length === 0) {
      allowMethods(req, res, ['POST'])
      return this.createRoom(req, res)
    }
    const [room, action, ...rest] = parts
    if (!action || rest.length > 0) throw new ApiError(404, 'not_found', 'no such API route')
    const problem = roomNameProblem(room)
    if (problem) throw new ApiError(400, 'bad_room', problem)
    switch (action) {
      case 'access':
        allowMethods(req, res, ['GET'])
        return this.describeAccess(req, res, room)
      case 'links':
        allowMethods(req, res, ['POST'])
        return this.createLink(req, res, room)
      case 'revoke':
        allowMethods(req, res, ['POST'])
        return this.revoke(req, res, room)
      case 'mode':
        allowMethods(req, res, ['PUT'])
        return this.setMode(req, res, room)
      default:
        throw new ApiError(404, 'not_found', 'no such API route')
    }
  }

  private async createRoom(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.checkOrigin(req)
    this.limit(res, this.creations, this.address(req), 'rooms created from this address')
    const body = await readJsonBody<CreateRoomRequest>(req, false)
    const room = randomId()
    const origin = this.origin(req)
    if (!this.options.auth) {
      const open = { room, token: null, url: `${origin}/r/${room}`, jti: null, expiresAt: null }
      sendJson(res, 200, open satisfies CreateRoomResponse)
      return
    }
    const minted = await this.mint(room, 'admin', body.ttlSeconds)
    this.options.log.info({ room, jti: minted.jti }, 'room created')
    sendJson(res, 201, {
      room,
      ...minted,
      url: linkUrl(origin, room, minted.token),
    } satisfies CreateRoomResponse)
  }

  private async describeAccess(req: IncomingMessage, res: ServerResponse, room: string): Promise<void> {
    const { auth } = this.options
    if (!auth) {
      sendJson(res, 200, {
        room,
        auth: false,
        access: 'edit',
        effectiveAccess: 'edit',
        mode: 'edit',
        expiresAt: null,
        jti: null,
      } satisfies AccessResponse)
      return
    }
    const claims = await this.tokenFor(req, room)
    const mode = await auth.authenticator.policies.mode(room)
    sendJson(res, 200, {
      room,
      auth: true,
      access: claims.access,
      effectiveAccess: await auth.authenticator.effectiveAccess(room, claims.access),
      mode,
      expiresAt: claims.expiresAt,
      jti: claims.jti,
    } satisfies AccessResponse)
  }

  private async createLink(req: IncomingMessage, res: ServerResponse, room: string): Promise<void> {
    this.checkOrigin(req)
    const admin = await this.adminFor(req, res, room)
    const body = await readJsonBody<CreateLinkRequest>(req, true)
    if (!isAccessLevel(body.access)) {
      throw new ApiError(400, 'bad_request', 'access must be "view", "edit" or "admin"')
    }
    if (body.name !== undefined && !isTokenName(body.name)) {
      throw new ApiError(400, 'bad_request', 'name must be a name of 1-64 characters, no controls')
    }
    const minted = await this.mint(room, body.access, body.ttlSeconds, body.name)
    this.options.log.info({ room, jti: minted.jti, access: body.access, by: admin }, 'link minted')
    const url = linkUrl(this.origin(req), room, minted.token)
    sendJson(res, 201, { ...minted, url, access: body.access } satisfies CreateLinkResponse)
  }

  private async revoke(req: IncomingMessage, res: ServerResponse, room: string): Promise<void> {
    this.checkOrigin(req)
    const admin = await this.adminFor(req, res, room)
    const { jti } = await readJsonBody<RevokeRequest>(req, true)
    if (typeof jti !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(jti)) {
      throw new ApiError(400, 'bad_request', 'jti must be a token id')
    }
    const { authenticator, live } = this.auth
    // Kept until no token with this id can still be valid (the server refuses longer lifetimes).
    const until = Date.now() + authenticator.maxLifetimeSeconds * 1000
    if ((await authenticator.policies.revoke(room, jti, until)) === 'full') {
      const max = this.options.config.maxRevocationsPerRoom
      this.options.log.warn(
        { room, jti, by: admin, max },
        'revocation refused: the room holds the most it may',
      )
      throw new ApiError(
        409,
        'revocations_full',
        `this room already holds ${max} live revocations; each lapses when its token could have expired`,
      )
    }
    const closed = live.revoke(room, jti)
    this.options.log.info({ room, jti, closed, by: admin }, 'token revoked')
    sendJson(res, 200, { revoked: jti, closed } satisfies RevokeResponse)
  }

  private async setMode(req: IncomingMessage, res: ServerResponse, room: string): Promise<void> {
    this.checkOrigin(req)
    const admin = await this.adminFor(req, res, room)
    const body = await readJsonBody<SetModeRequest>(req, true)
    if (!isRoomMode(body.mode)) throw new ApiError(400, 'bad_request', 'mode must be "view" or "edit"')
    await this.auth.authenticator.policies.setMode(room, body.mode)
    const changed = this.auth.live.applyMode(room, body.mode)
    this.options.log.info({ room, mode: body.mode, connections: changed, by: admin }, 'room mode set')
    sendJson(res, 200, { mode: body.mode } satisfies SetModeResponse)
  }

  private get auth(): NonNullable<AccessApiOptions['auth']> {
    if (!this.options.auth) {
      throw new ApiError(404, 'auth_off', 'access control is off on this server (no TANDEM_AUTH_SECRET)')
    }
    return this.options.auth
  }

  /** The claims of the request's Bearer token for `room`; throws the refusal. */
  private async tokenFor(req: IncomingMessage, room: string) {
    const header = req.headers.authorization
    const token = header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? null
    const result = await this.auth.authenticator.check(token, room)
    if (!result.ok) throw new ApiError(result.refusal.status, result.refusal.kind, result.refusal.reason)
    return result.claims
  }

  /**
   * The token id of the request's admin token for `room`; throws 401/403 otherwise, and 429 past
   * the admin rate of the client's address (checked first) or of the room (once the token is).
   */
  private async adminFor(req: IncomingMessage, res: ServerResponse, room: string): Promise<string> {
    this.limit(res, this.adminByAddress, this.address(req), 'admin requests from this address')
    const claims = await this.tokenFor(req, room)
    if (claims.access !== 'admin') throw new ApiError(403, 'not_admin', 'admin access required')
    this.limit(res, this.adminByRoom, room, 'admin requests for this room')
    return claims.jti
  }

  /** Takes one event from `key`'s bucket; throws 429 with Retry-After when it is empty. */
  private limit(res: ServerResponse, limit: KeyedRateLimit, key: string, what: string): void {
    const waitMs = limit.take(key)
    if (waitMs === 0) return
    res.setHeader('retry-after', String(Math.ceil(waitMs / 1000)))
    throw new ApiError(429, 'rate_limited', `too many ${what}; try again later`)
  }

  private address(req: IncomingMessage): string {
    return clientAddress(req, this.options.config.trustProxy)
  }

  private checkOrigin(req: IncomingMessage): void {
    const problem = originProblem(req, this.options.config.allowedOrigins)
    if (problem) throw new ApiError(403, 'origin_not_allowed', problem)
  }

  private async mint(room: string, access: AccessLevel, ttl: unknown, name?: string) {
    const { defaultLinkTtlSeconds, maxLinkTtlSeconds, authSecret } = this.options.config
    const ttlSeconds = ttl === undefined ? defaultLinkTtlSeconds : ttl
    if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new ApiError(400, 'bad_request', 'ttlSeconds must be a positive integer')
    }
    if (ttlSeconds > maxLinkTtlSeconds) {
      throw new ApiError(400, 'bad_request', `ttlSeconds may be at most ${maxLinkTtlSeconds}`)
    }
    return signRoomToken(authSecret!, { room, access, ttlSeconds, name })
  }

  /** Scheme and host links are built on: `publicUrl`, else the request's Host and X-Forwarded-Proto. */
  private origin(req: IncomingMessage): string {
    const { publicUrl } = this.options.config
    if (publicUrl) return publicUrl.replace(/\/$/, '')
    const forwarded = String(req.headers['x-forwarded-proto'] ?? '')
      .split(',')[0]
      .trim()
    const proto = forwarded === 'https' || forwarded === 'http' ? forwarded : 'http'
    const host = req.headers.host ?? ''
    return `${proto}://${/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost'}`
  }
}

/** `<origin>/r/<room>#token=<token>`: the token rides in the fragment, never sent to a server. */
export const linkUrl = (origin: string, room: string, token: string): string =>
  `${origin}/r/${room}#token=${token}`

function allowMethods(req: IncomingMessage, res: ServerResponse, methods: string[]): void {
  if (methods.includes(req.method ?? '')) return
  res.setHeader('allow', methods.join(', '))
  throw new ApiError(405, 'method_not_allowed', `use ${methods.join(' or ')}`)
}

/** Reads a JSON object body of at most MAX_BODY_BYTES; an empty body is `{}` unless `required`. */
async function readJsonBody<T>(req: IncomingMessage, required: boolean): Promise<Unchecked<T>> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES)
    throw new ApiError(413, 'body_too_large', `body larger than ${MAX_BODY_BYTES} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, 'body_too_large', `body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  if (size === 0) {
    if (required) throw new ApiError(400, 'bad_request', 'a JSON body is required')
    return {}
  }
  const type = req.headers['content-type']?.split(';')[0].trim().toLowerCase()
  if (type !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', 'the body must be application/json')
  }
  let body: unknown
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ApiError(400, 'bad_request', 'the body is not valid JSON')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'bad_request', 'the body must be a JSON object')
  }
  return body as Unchecked<T>
}
