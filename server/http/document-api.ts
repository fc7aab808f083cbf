/**
 * Reading a document over HTTP (PROTOCOL.md, "The document over HTTP"):
 *
 *   GET /api/rooms/<room>                          -> {room, length, changeId, changedAt, clients, storedBytes}
 *   GET /api/rooms/<room>/text                     -> the text, Tandem-Change-Id and ETag (If-None-Match: 304)
 *   GET /api/rooms/<room>/update[?stateVector=…]   -> the Yjs state, or the diff from a state vector
 *   GET /api/rooms/<room>/events                   -> the change feed (feed/, Server-Sent Events)
 *
 * Any token of the room reads (`Authorization: Bearer` or `?token=`, as the WebSocket), through the
 * server's authenticate hook when one is given; with access control off anyone reads. A read opens
 * the room through the registry (loading it if nobody has it open) and releases it once answered.
 *
 * A stream counts as a connection, as a WebSocket does: it passes the upgrade limits' admission
 * (origin, per address, in total, rooms loaded) and leaves the plain HTTP socket limits, from its
 * request until its socket closes (the stream's response closes the socket; once its head is sent
 * the stream takes the socket over from node:http, feed/socket-handoff.ts, and the limits' own
 * 'close' listeners on the socket still count it); and at most `maxFeedsPerRoom` streams on one room. A token that is revoked or expires ends its stream.
 * Writes (`POST …/text`, `POST …/update`) are not answered here: other methods on those paths are
 * declined for the next handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import * as Y from 'yjs'
import { roomNameProblem } from '../../shared/protocol/index.ts'
import type { GovernedConnection } from '../auth/live-access.ts'
import type { ServerConfig } from '../config/config.ts'
import type { FeedHub } from '../feed/feed-hub.ts'
import type { FeedRoom } from '../feed/room-feed.ts'
import type { SseStream } from '../feed/sse-stream.ts'
import { ApiError, sendApiError } from './api-error.ts'
import { sendJson } from './http-routes.ts'
import type { RequestAccess, RequestToken } from './request-access.ts'
import { type RequestRooms, withRoom } from './room-hold.ts'

const PREFIX = '/api/rooms/'

/** What the reads need of a room (rooms/room.ts `Room`). */
export interface DocumentRoom extends FeedRoom {
  readonly doc: Y.Doc
  /** Connections in the room on this instance. */
  readonly members: ReadonlySet<unknown>
  /** The room's stored size in bytes (snapshot and log, as the room counts it for its quota). */
  readonly storedBytes: number
}

export interface DocumentApiOptions<R extends DocumentRoom> {
  rooms: RequestRooms<R>
  feeds: FeedHub<R>
  /** Who may read: any access to the room reads (request-access.ts). */
  access: RequestAccess
  /** The WebSocket limits a stream counts under (limits/upgrade-limits.ts `UpgradeLimits`). */
  streamLimits: {
    admit(request: IncomingMessage, socket: Duplex, room: string): { status: number; reason: string } | null
    roomOpening(socket: Duplex): void
  }
  /** The plain HTTP socket limits a stream's socket leaves, as an upgraded one does. */
  httpLimits: { upgraded(socket: Socket): void }
  /** Ends streams whose token is revoked or expires; null without tokens. */
  live: {
    add(connection: GovernedConnection, token: RequestToken): void
    remove(connection: GovernedConnection): void
  } | null
  config: Pick<ServerConfig, 'maxRoomsLoaded'>
  /** True while the server shuts down: 503. */
  closing(): boolean
  log: Logger
}

/** Returns an HttpRoutes fallback answering the reads above and declining everything else. */
export function createDocumentApi<R extends DocumentRoom>(options: DocumentApiOptions<R>) {
  const api = new DocumentApi(options)
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const route = readRoute(req, url)
    if (!route) return false
    try {
      await api.handle(req, res, url, route)
    } catch (err) {
      if (!(err instanceof ApiError) || res.headersSent) throw err
      sendApiError(res, err)
    }
    return true
  }
}

type Action = 'metadata' | 'text' | 'update' | 'events'

/** The room and action a request reads, or null when it is not one of these routes. */
function readRoute(req: IncomingMessage, url: URL): { room: string; action: Action } | null {
  if (!url.pathname.startsWith(PREFIX)) return null
  const [room, action, ...rest] = url.pathname.slice(PREFIX.length).split('/')
  if (rest.length > 0 || room === '') return null
  if (action === undefined) return { room, action: 'metadata' }
  // POST …/text and …/update are writes, for the next handler.
  if ((action === 'text' || action === 'update') && isRead(req)) return { room, action }
  if (action === 'events') return { room, action }
  return null
}

const isRead = (req: IncomingMessage): boolean => req.method === 'GET' || req.method === 'HEAD'

class DocumentApi<R extends DocumentRoom> {
  constructor(private readonly options: DocumentApiOptions<R>) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, route: { room: string; action: Action }) {
    const { room, action } = route
    const allowed = action === 'events' ? ['GET'] : ['GET', 'HEAD']
    if (!allowed.includes(req.method ?? '')) {
      res.setHeader('allow', allowed.join(', '))
      throw new ApiError(405, 'method_not_allowed', `use ${allowed.join(' or ')}`)
    }
    const problem = roomNameProblem(room)
    if (problem) throw new ApiError(400, 'bad_room', problem)
    if (this.options.closing()) throw new ApiError(503, 'unavailable', 'server is shutting down')
    const { token } = await this.options.access(req, room, url)
    switch (action) {
      case 'metadata':
        return this.withRoom(room, (loaded) => {
          const { changes } = loaded
          sendJson(res, 200, {
            room,
            length: changes.length,
            changeId: changes.latestId,
            changedAt: changes.latestAt,
            clients: loaded.members.size,
            storedBytes: loaded.storedBytes,
          })
        })
      case 'text':
        return this.withRoom(room, (loaded) => sendText(req, res, loaded))
      case 'update': {
        const stateVector = stateVectorParam(url)
        return this.withRoom(room, (loaded) => {
          const update = Y.encodeStateAsUpdate(loaded.doc, stateVector)
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': update.byteLength,
            'cache-control': 'no-store',
          })
          res.end(update)
        })
      }
      case 'events':
        return this.events(req, res, url, room, token ?? null)
    }
  }

  /** Answers with room `name` held for the answer (see room-hold.ts). */
  private withRoom(name: string, answer: (room: R) => void): Promise<void> {
    const { rooms, config, log } = this.options
    return withRoom(rooms, { maxRoomsLoaded: config.maxRoomsLoaded, log, what: 'an HTTP read' }, name, answer)
  }

  /** Admits a stream as a connection, then hands it to the feeds (see the module comment). */
  private async events(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    room: string,
    token: RequestToken | null,
  ): Promise<void> {
    const { feeds, streamLimits, httpLimits, log } = this.options
    const after = lastEventId(req, url)
    const full = feeds.refusal(room)
    if (full) throw new ApiError(503, 'unavailable', full, 5)
    const refusal = streamLimits.admit(req, req.socket, room)
    if (refusal) {
      const code =
        refusal.status === 429
          ? 'rate_limited'
          : refusal.status === 403
            ? 'origin_not_allowed'
            : 'unavailable'
      throw new ApiError(refusal.status, code, refusal.reason, refusal.status === 403 ? undefined : 5)
    }
    httpLimits.upgraded(req.socket)
    // The socket counts as a stream until it closes: whatever is answered now, it closes after.
    res.setHeader('connection', 'close')
    const opening = feeds.open(room, res, after)
    streamLimits.roomOpening(req.socket)
    let stream: SseStream | null
    try {
      stream = await opening
    } catch (err) {
      log.error({ err, room }, 'room failed to load for a change feed')
      throw new ApiError(503, 'unavailable', 'the room could not be loaded', 5)
    }
    if (!stream) {
      if (!res.destroyed) throw new ApiError(503, 'unavailable', 'server is shutting down')
      return
    }
    log.debug({ feed: stream.id, room, after }, 'change feed opened')
    if (token) this.govern(stream, room, token)
  }

  /** Ends `stream` when its token is revoked or expires (auth/live-access.ts). */
  private govern(stream: SseStream, room: string, token: RequestToken): void {
    const { live } = this.options
    if (!live) return
    const governed: GovernedConnection = {
      id: stream.id,
      roomName: room,
      get closed() {
        return stream.closed
      },
      setAccess() {
        // Every access level reads: a mode change does not concern a stream.
      },
      close: () => stream.close('access'),
    }
    live.add(governed, token)
    stream.onClose(() => live.remove(governed))
  }
}

/** Answers `GET …/text`: the text at the room's latest change, or 304 when the client has it. */
function sendText(req: IncomingMessage, res: ServerResponse, room: DocumentRoom): void {
  const { changes } = room
  const etag = `"${changes.latestId}"`
  const headers = {
    'tandem-change-id': String(changes.latestId),
    etag,
    'cache-control': 'no-cache',
  }
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers).end()
    return
  }
  const text = changes.text()
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** True when an If-None-Match header names `etag` (weak or strong) or is `*`. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false
  return header.split(',').some((tag) => {
    const trimmed = tag.trim()
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag
  })
}

/** The `stateVector` query parameter, decoded; undefined without one. Throws 400 when it is not one. */
function stateVectorParam(url: URL): Uint8Array | undefined {
  const param = url.searchParams.get('stateVector')
  if (param === null) return undefined
  const bad = new ApiError(400, 'bad_request', 'stateVector must be a Yjs state vector in base64url')
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(param)) throw bad
  const bytes = new Uint8Array(Buffer.from(param, 'base64url'))
  try {
    Y.decodeStateVector(bytes)
  } catch {
    throw bad
  }
  return bytes
}

/**
 * The change id a stream resumes after: the `Last-Event-ID` header (what an EventSource sends when
 * it reconnects, so it wins over the query), else `?lastEventId=`; null for neither. Throws 400
 * when it is not a change id.
 */
function lastEventId(req: IncomingMessage, url: URL): number | null {
  const header = req.headers['last-event-id']
  const text = typeof header === 'string' && header !== '' ? header : url.searchParams.get('lastEventId')
  if (text === null || text === '') return null
  if (!/^\d{1,15}$/.test(text)) throw new ApiError(400, 'bad_request', 'Last-Event-ID must be a change id')
  return Number(text)
}
