/**
 * Writing a document over HTTP (PROTOCOL.md, "The document over HTTP"):
 *
 *   POST /api/rooms/<room>/update   a V1 Yjs update (at most `maxPayload` bytes)  -> {changeId}
 *   POST /api/rooms/<room>/text     {index, delete?, insert?, base?} (JSON, 1 MiB) -> {changeId, index}
 *
 * A write is answered once durable (the room resolves its change id then), and reaches the room's
 * connections and feed as any change does. In order, a write is refused (write-gate.ts, the checks
 * and per-address budgets every HTTP write passes, history's too): while shutting down (503);
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
import type { WriteAuthor } from '../authorship/identity.ts'
import type { ServerConfig } from '../config/config.ts'
import { ApiError, sendApiError } from './api-error.ts'
import { sendJson } from './http-routes.ts'
import type { RequestRooms } from './room-hold.ts'
import { applyTextEdit, type ChangeHistory, type EditableRoom, parseTextEdit } from './text-edit.ts'
import { parseJson, WriteGate, type WriteGateOptions } from './write-gate.ts'

/** Largest JSON body of `POST …/text`, in bytes. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024

export { DEFAULT_AUTHOR } from './write-gate.ts'

const PREFIX = '/api/rooms/'

/** What writes need of a room (rooms/room.ts `Room`). */
export interface WritableRoom extends EditableRoom {
  /**
   * Admits, applies and commits `update` as a socket's update; resolves with its (last) change id
   * once durable. Rejects with the PeerError a socket would be closed with.
   */
  applyLocal(update: Uint8Array, author: WriteAuthor): Promise<number>
}

export interface DocumentWritesOptions<R extends WritableRoom> extends WriteGateOptions {
  rooms: RequestRooms<R>
  /** Where a text edit's base older than the room's memory is read from. */
  store: ChangeHistory
  config: WriteGateOptions['config'] & Pick<ServerConfig, 'maxPayload'>
  /** The checks and budgets every HTTP write passes (one per server; else its own). */
  gate?: WriteGate
}

type Action = 'text' | 'update'

/** Returns an HttpRoutes fallback answering the writes above and declining everything else. */
export function createDocumentWrites<R extends WritableRoom>(options: DocumentWritesOptions<R>) {
  const writes = new DocumentWrites(options, options.gate ?? new WriteGate(options))
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
  constructor(
    private readonly options: DocumentWritesOptions<R>,
    private readonly gate: WriteGate,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, room: string, action: Action) {
    const { rooms, config, log } = this.options
    if (req.method !== 'POST') {
      res.setHeader('allow', 'GET, HEAD, POST')
      throw new ApiError(405, 'method_not_allowed', 'use GET, HEAD or POST')
    }
    const limit = action === 'update' ? config.maxPayload : MAX_JSON_BODY_BYTES
    const { author, body, meter } = await this.gate.admit(req, url, room, limit)
    if (action === 'update') {
      const changeId = await this.gate.write(rooms, room, (loaded) =>
        meter(() => loaded.applyLocal(body, author)),
      )
      log.debug({ room, changeId, author: author.key, bytes: body.byteLength }, 'update written over HTTP')
      sendJson(res, 200, { changeId })
      return
    }
    const request = parseTextEdit(parseJson(body))
    const result = await this.gate.write(rooms, room, (loaded) =>
      applyTextEdit(loaded, this.options.store, request, author, meter),
    )
    log.debug({ room, ...result, author: author.key, base: request.base }, 'text edit written over HTTP')
    sendJson(res, 200, result)
  }
}
