/**
 * What every HTTP write passes before it reaches a room (PROTOCOL.md, "The document over HTTP"),
 * shared by the document writes (document-writes.ts) and history's (history-api.ts) so an address
 * has one budget across them. In order, a write is refused: for a bad room name (400); while
 * shutting down (503); from an Origin outside `allowedOrigins` (403); past its address's message
 * rate or text-walk budget (429, before any token is checked or body read); without edit access
 * (401/403 as for a WebSocket, request-access.ts; a view token 403 `forbidden`); for a bad
 * `Tandem-Author` (400); with a body past its limit (413: read as it streams, never more than the
 * limit held) or the byte burst, or past the address's byte rate (429).
 *
 * The author a change is credited to: the `Tandem-Author` header (UTF-8, a presence name: at most
 * 64 units, no control characters), else "HTTP API"; the write's identity (authorship/identity.ts)
 * is the token's holder, else that name. The text items a write makes the room walk are charged to
 * its address after its synchronous part (`meter`, limits/text-walk.ts).
 */
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import { CloseCode, isPresenceName, roomNameProblem } from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'
import { httpIdentity, USER_ID } from '../authorship/identity.ts'
import type { ServerConfig } from '../config/config.ts'
import { KeyedRateLimit } from '../limits/keyed-rate-limit.ts'
import { type Meter, TEXT_WALK_BURST, TEXT_WALK_PER_SECOND } from '../limits/text-walk.ts'
import { clientAddress, originProblem } from '../limits/upgrade-limits.ts'
import { RoomUnloadedError } from '../rooms/room.ts'
import { itemsWalked } from '../rooms/text-deltas.ts'
import type { AuthorIdentity } from '../store/history-store.ts'
import { ApiError } from './api-error.ts'
import type { RequestAccess } from './request-access.ts'
import { type RequestRooms, withRoom } from './room-hold.ts'

/** The author of a write that names none. */
export const DEFAULT_AUTHOR = 'HTTP API'

export interface WriteGateOptions {
  /** What a request may do in a room (request-access.ts). */
  access: RequestAccess
  config: Pick<
    ServerConfig,
    | 'maxRoomsLoaded'
    | 'trustProxy'
    | 'allowedOrigins'
    | 'documentMessagesPerSecond'
    | 'documentMessageBurst'
    | 'documentBytesPerSecond'
    | 'documentByteBurst'
  >
  /** True while the server shuts down: 503. */
  closing(): boolean
  log: Logger
}

/** A write let through: who makes it, its body, and the meter charging its walk to its address. */
export interface AdmittedWrite {
  readonly author: AuthorIdentity
  readonly body: Uint8Array
  readonly meter: Meter
}

export class WriteGate {
  private readonly messages: KeyedRateLimit
  private readonly bytes: KeyedRateLimit
  /** Text items the room's text deltas walked for each address's writes (limits/text-walk.ts). */
  private readonly walks = new KeyedRateLimit({
    perMinute: TEXT_WALK_PER_SECOND * 60,
    burst: TEXT_WALK_BURST,
  })

  constructor(private readonly options: WriteGateOptions) {
    const { config } = options
    this.messages = new KeyedRateLimit({
      perMinute: config.documentMessagesPerSecond * 60,
      burst: config.documentMessageBurst,
    })
    this.bytes = new KeyedRateLimit({
      perMinute: config.documentBytesPerSecond * 60,
      burst: config.documentByteBurst,
    })
  }

  /** Lets a write to `room` through (see the module comment) with a body of at most `bodyLimit` bytes. */
  async admit(req: IncomingMessage, url: URL, room: string, bodyLimit: number): Promise<AdmittedWrite> {
    const { config } = this.options
    const problem = roomNameProblem(room)
    if (problem) throw new ApiError(400, 'bad_room', problem)
    if (this.options.closing()) throw new ApiError(503, 'unavailable', 'server is shutting down')
    const origin = originProblem(req, config.allowedOrigins)
    if (origin) throw new ApiError(403, 'origin_not_allowed', origin)
    const address = clientAddress(req, config.trustProxy)
    limit(this.messages.take(address), `more than ${config.documentMessagesPerSecond} writes per second`)
    limit(
      this.walks.take(address, 0),
      `more than ${TEXT_WALK_PER_SECOND} text items walked per second (edits far apart in a long text)`,
    )
    const { access, token } = await this.options.access(req, room, url)
    if (access === 'view') throw new ApiError(403, 'forbidden', 'this token can only view the document')
    const author = httpIdentity(token ?? null, authorOf(req), authorIdOf(req))
    const body = await readBody(req, bodyLimit)
    if (body.byteLength > config.documentByteBurst) {
      throw new ApiError(
        413,
        'too_large',
        `body larger than ${config.documentByteBurst} bytes (the byte burst)`,
      )
    }
    limit(
      this.bytes.take(address, body.byteLength),
      `more than ${config.documentBytesPerSecond} bytes written per second`,
    )
    return { author, body, meter: this.meter(address) }
  }

  /**
   * For a costly read (…/authors, a version's text, a diff): 429 when the caller's address has
   * spent its text-walk budget (the one its writes draw on, limits/text-walk.ts); else returns the
   * charge to make once the read knows what it walked.
   */
  readBudget(req: IncomingMessage): (items: number) => void {
    const address = clientAddress(req, this.options.config.trustProxy)
    limit(
      this.walks.take(address, 0),
      `more than ${TEXT_WALK_PER_SECOND} text items walked per second (reads of long texts)`,
    )
    return (items) => this.walks.charge(address, Math.ceil(items))
  }

  /** Runs `write` with room `name` held; what the room refuses becomes the spec's ApiError. */
  write<R, T>(rooms: RequestRooms<R>, name: string, write: (room: R) => Promise<T>): Promise<T> {
    const { config, log } = this.options
    const options = { maxRoomsLoaded: config.maxRoomsLoaded, log, what: 'an HTTP write' }
    return withRoom(rooms, options, name, (room) =>
      write(room).catch((err: unknown) => {
        throw refusalFor(err, name, log)
      }),
    )
  }

  /**
   * Runs the synchronous part of a write (where the room applies it and computes its text delta)
   * and charges the text items that walked to `address`: past the budget its next write waits.
   */
  private meter(address: string): Meter {
    return (apply) => {
      const walked = itemsWalked()
      try {
        return apply()
      } finally {
        this.walks.charge(address, itemsWalked() - walked)
      }
    }
  }
}

/**
 * The ApiError for what a room refused: for what would close a socket (a PeerError, logged), 413
 * past a limit and 422 for the rest; 503 for a room unloading (shutdown). Anything else as it is.
 */
function refusalFor(err: unknown, room: string, log: Logger): unknown {
  if (err instanceof RoomUnloadedError) return new ApiError(503, 'unavailable', 'server is shutting down')
  if (!(err instanceof PeerError)) return err
  log.info({ room, code: err.code, reason: err.message }, `HTTP write refused: ${err.description}`)
  if (err.code === CloseCode.limitExceeded) return new ApiError(413, 'too_large', err.message)
  if (err.code === CloseCode.authorMismatch) return new ApiError(403, 'author_mismatch', err.message)
  const missing = err.code === CloseCode.needsResync ? ' (it depends on changes the room does not have)' : ''
  return new ApiError(422, 'invalid_update', err.message + missing)
}

/** Throws 429 with Retry-After when a rate limit asked to wait `waitMs`. */
function limit(waitMs: number, what: string): void {
  if (waitMs > 0)
    throw new ApiError(429, 'rate_limited', `${what} from this address`, Math.ceil(waitMs / 1000))
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The `Tandem-Author` header as a name, else DEFAULT_AUTHOR; 400 when it is not a presence name.
 * Node reads header bytes as Latin-1: they are taken as the UTF-8 they were sent as, or as Latin-1
 * when they are not UTF-8.
 */
function authorOf(req: IncomingMessage): string {
  const header = req.headers['tandem-author']
  if (header === undefined) return DEFAULT_AUTHOR
  const raw = String(header)
  let name: string
  try {
    name = STRICT_UTF8.decode(Buffer.from(raw, 'latin1')).trim()
  } catch {
    name = raw.trim()
  }
  if (name === '' || !isPresenceName(name)) {
    throw new ApiError(
      400,
      'bad_request',
      'Tandem-Author must be a name of at most 64 characters, no controls',
    )
  }
  return name
}

/** The `Tandem-Author-Id` header (the editor's per-browser id), else null; 400 when it is not one. */
function authorIdOf(req: IncomingMessage): string | null {
  const header = req.headers['tandem-author-id']
  if (header === undefined) return null
  const id = String(header)
  if (!USER_ID.test(id)) {
    throw new ApiError(400, 'bad_request', 'Tandem-Author-Id must be 1 to 64 of A-Z, a-z, 0-9, _ and -')
  }
  return id
}

/** `body` as JSON; 400 when it is not. */
export function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch {
    throw new ApiError(400, 'bad_request', 'the body is not valid JSON')
  }
}

/**
 * The request body, read as it arrives; rejects with 413 as soon as it passes `limit` bytes (its
 * declared length, or what has arrived), holding no more than that. The rest is read and dropped
 * while the answer goes out, so the client sees it.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let settled = false
    const settle = (error: ApiError | null, body?: Uint8Array) => {
      if (settled) return
      settled = true
      req.off('data', onData)
      if (!error) resolve(body!)
      else {
        // Dropped, not kept: the answer goes out while the client may still be sending.
        req.resume()
        reject(error)
      }
    }
    const tooLarge = () => new ApiError(413, 'too_large', `body larger than ${limit} bytes`)
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength
      if (size <= limit) chunks.push(chunk)
      else {
        chunks.length = 0
        settle(tooLarge())
      }
    }
    const cutOff = () =>
      settle(new ApiError(400, 'bad_request', 'the request was cut off before its body ended'))
    // Listened to for good: an error after the answer (a reset while dropping the rest) is no one's.
    req.on('error', cutOff)
    req.on('close', cutOff)
    if (Number(req.headers['content-length']) > limit) return settle(tooLarge())
    req.on('data', onData)
    req.once('end', () => settle(null, Buffer.concat(chunks, size)))
  })
}
