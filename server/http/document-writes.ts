/**
 * Writing a document over HTTP (PROTOCOL.md, "The document over HTTP"):
 *
 *   POST /api/rooms/<room>/update   a V1 Yjs update (at most `maxPayload` bytes)  -> {changeId}
 *   POST /api/rooms/<room>/text     {index, delete?, insert?, base?} (JSON, 1 MiB) -> {changeId, index}
 *
 * A write is answered once durable (the room resolves its change id then), and reaches the room's
 * connections and feed as any change does. In order, a write is refused: while shutting down (503);
 * from an Origin outside `allowedOrigins` (403); past its address's message rate (429, before any
 * token is checked or body read); without edit access (401/403, decided as for a WebSocket, see
 * request-access.ts); with a body past its limit (413: read as it streams, never more than the
 * limit held) or past the address's byte rate (429); then by what the room says: an update passes
 * exactly a socket's checks (shape, admission, quota: 422 / 413), a text edit those of
 * text-edit.ts (400 / 409).
 *
 * The author a change is credited to: the `Tandem-Author` header (UTF-8, a presence name: at most
 * 64 units, no control characters), else "HTTP API"; the write's identity (authorship/identity.ts)
 * is the token's holder, else that name. An update with structs of a client id bound to another
 * identity is refused whole: 403 `author_mismatch`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { CloseCode, isPresenceName, roomNameProblem } from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'
import { httpIdentity, type WriteAuthor } from '../authorship/identity.ts'
import type { ServerConfig } from '../config/config.ts'
import { KeyedRateLimit } from '../limits/keyed-rate-limit.ts'
import { TEXT_WALK_BURST, TEXT_WALK_PER_SECOND } from '../limits/text-walk.ts'
import { clientAddress, originProblem } from '../limits/upgrade-limits.ts'
import { RoomUnloadedError } from '../rooms/room.ts'
import { itemsWalked } from '../rooms/text-deltas.ts'
import { ApiError, sendApiError } from './api-error.ts'
import { sendJson } from './http-routes.ts'
import type { RequestAccess } from './request-access.ts'
import { type RequestRooms, withRoom } from './room-hold.ts'
import {
  applyTextEdit,
  type ChangeHistory,
  type EditableRoom,
  type Meter,
  parseTextEdit,
} from './text-edit.ts'

/** Largest JSON body of `POST …/text`, in bytes. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024

/** The author of a write that names none. */
export const DEFAULT_AUTHOR = 'HTTP API'

const PREFIX = '/api/rooms/'

/** What writes need of a room (rooms/room.ts `Room`). */
export interface WritableRoom extends EditableRoom {
  /**
   * Admits, applies and commits `update` as a socket's update; resolves with its (last) change id
   * once durable. Rejects with the PeerError a socket would be closed with.
   */
  applyLocal(update: Uint8Array, author: WriteAuthor): Promise<number>
}

export interface DocumentWritesOptions<R extends WritableRoom> {
  rooms: RequestRooms<R>
  /** Where a text edit's base older than the room's memory is read from. */
  store: ChangeHistory
  /** What a request may do in a room (request-access.ts). */
  access: RequestAccess
  config: Pick<
    ServerConfig,
    | 'maxPayload'
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

type Action = 'text' | 'update'

/** Returns an HttpRoutes fallback answering the writes above and declining everything else. */
export function createDocumentWrites<R extends WritableRoom>(options: DocumentWritesOptions<R>) {
  const writes = new DocumentWrites(options)
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const route = writeRoute(req, url)
    if (!route) return false
    try {
      await writes.handle(req, res, url, route.room, route.action)
    } catch (err) {
      if (!(err instanceof ApiError) || res.headersSent) throw err
      // The rest of a body past its limit is not read: the connection closes after the answer.
      if (err.status === 413) res.setHeader('connection', 'close')
      sendApiError(res, err)
    }
    return true
  }
}

/** The room and action a request writes, or null (GET and HEAD are reads, document-api.ts). */
function writeRoute(req: IncomingMessage, url: URL): { room: string; action: Action } | null {
  if (!url.pathname.startsWith(PREFIX) || req.method === 'GET' || req.method === 'HEAD') return null
  const [room, action, ...rest] = url.pathname.slice(PREFIX.length).split('/')
  if (rest.length > 0 || room === '' || (action !== 'text' && action !== 'update')) return null
  return { room, action }
}

class DocumentWrites<R extends WritableRoom> {
  private readonly messages: KeyedRateLimit
  private readonly bytes: KeyedRateLimit
  /** Text items the room's text deltas walked for each address's writes (limits/text-walk.ts). */
  private readonly walks = new KeyedRateLimit({
    perMinute: TEXT_WALK_PER_SECOND * 60,
    burst: TEXT_WALK_BURST,
  })

  constructor(private readonly options: DocumentWritesOptions<R>) {
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

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, room: string, action: Action) {
    const { config, log } = this.options
    if (req.method !== 'POST') {
      res.setHeader('allow', 'GET, HEAD, POST')
      throw new ApiError(405, 'method_not_allowed', 'use GET, HEAD or POST')
    }
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
    const author = httpIdentity(token ?? null, authorOf(req))
    const body = await readBody(req, action === 'update' ? config.maxPayload : MAX_JSON_BODY_BYTES)
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
    if (action === 'update') {
      const meter = this.meter(address)
      const changeId = await this.write(room, (loaded) => meter(() => loaded.applyLocal(body, author)))
      log.debug({ room, changeId, author: author.key, bytes: body.byteLength }, 'update written over HTTP')
      sendJson(res, 200, { changeId })
      return
    }
    const request = parseTextEdit(parseJson(body))
    const result = await this.write(room, (loaded) =>
      applyTextEdit(loaded, this.options.store, request, author, this.meter(address)),
    )
    log.debug({ room, ...result, author: author.key, base: request.base }, 'text edit written over HTTP')
    sendJson(res, 200, result)
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

  /** Runs `write` with room `name` held; what the room refuses becomes the spec's ApiError. */
  private write<T>(name: string, write: (room: R) => Promise<T>): Promise<T> {
    const { rooms, config, log } = this.options
    const options = { maxRoomsLoaded: config.maxRoomsLoaded, log, what: 'an HTTP write' }
    return withRoom(rooms, options, name, (room) =>
      write(room).catch((err: unknown) => {
        throw refusalFor(err, name, log)
      }),
    )
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

function parseJson(body: Uint8Array): unknown {
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
