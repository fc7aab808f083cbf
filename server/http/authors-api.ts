/**
 * Who wrote what of a room's text over HTTP (PROTOCOL.md, "History and authorship"):
 *
 *   GET /api/rooms/<room>/authors  -> {changeId, length, spans: [{length, author}], authors: [{key, name, color, chars}]}
 *
 * Any access to the room reads it (request-access.ts, as the other reads); the room is held for the
 * request (room-hold.ts). Spans are of the document as it is when read (authorship/author-spans.ts);
 * client ids the room's cache does not know (another instance bound them) are read from the store
 * first. `authors` lists each identity with text in the spans, most characters first. The items a
 * read walks are charged to its address's text-walk budget (429 once spent, write-gate.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type * as Y from 'yjs'
import { roomNameProblem } from '../../shared/protocol/index.ts'
import { authorSpans, type TextAuthorship } from '../authorship/author-spans.ts'
import type { RoomAuthors } from '../authorship/room-authors.ts'
import type { ServerConfig } from '../config/config.ts'
import { ROOM_TEXT } from '../rooms/change-log.ts'
import { ApiError, sendApiError } from './api-error.ts'
import { sendJson } from './http-routes.ts'
import type { RequestAccess } from './request-access.ts'
import { type RequestRooms, withRoom } from './room-hold.ts'
import type { WriteGate } from './write-gate.ts'

/** What the authors read needs of a room (rooms/room.ts `Room`). */
export interface AuthoredRoom {
  readonly doc: Y.Doc
  readonly changes: { readonly latestId: number }
  readonly authors: Pick<RoomAuthors, 'keyOf' | 'identity' | 'refresh'> | null
}

export interface AuthorsApiOptions<R extends AuthoredRoom> {
  rooms: RequestRooms<R>
  access: RequestAccess
  /** The per-address budget the read's walk is charged to (write-gate.ts `readBudget`). */
  gate: Pick<WriteGate, 'readBudget'>
  config: Pick<ServerConfig, 'maxRoomsLoaded'>
  closing(): boolean
  log: Logger
}

/** One author of the text as the API lists them. */
export interface TextAuthor {
  key: string
  name: string
  color: string | null
  chars: number
}

const ROUTE = /^\/api\/rooms\/([^/]+)\/authors$/

/** Returns an HttpRoutes fallback answering `GET …/authors` and declining everything else. */
export function createAuthorsApi<R extends AuthoredRoom>(options: AuthorsApiOptions<R>) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const room = ROUTE.exec(url.pathname)?.[1]
    if (room === undefined) return false
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD')
        throw new ApiError(405, 'method_not_allowed', 'use GET or HEAD')
      }
      const problem = roomNameProblem(room)
      if (problem) throw new ApiError(400, 'bad_room', problem)
      if (options.closing()) throw new ApiError(503, 'unavailable', 'server is shutting down')
      await options.access(req, room, url)
      const charge = options.gate.readBudget(req)
      const { rooms, config, log } = options
      const hold = { maxRoomsLoaded: config.maxRoomsLoaded, log, what: 'an authors read' }
      await withRoom(rooms, hold, room, async (loaded) =>
        sendJson(res, 200, await roomAuthorship(loaded, charge)),
      )
    } catch (err) {
      if (!(err instanceof ApiError) || res.headersSent) throw err
      sendApiError(res, err)
    }
    return true
  }
}

/** The `/authors` answer for `room`; each walk of its text is charged to `charge` (its items). */
export async function roomAuthorship(room: AuthoredRoom, charge: (items: number) => void = () => {}) {
  const { authors } = room
  const read = (): TextAuthorship => {
    const authorship = authorSpans(room.doc.getText(ROOM_TEXT), (client) => authors?.keyOf(client))
    charge(authorship.items)
    return authorship
  }
  let authorship = read()
  if (authors && authorship.unbound.size > 0) {
    await authors.refresh(authorship.unbound)
    authorship = read()
  }
  const listed: TextAuthor[] = [...authorship.chars]
    .map(([key, chars]) => {
      const identity = authors?.identity(key)
      return { key, name: identity?.name ?? nameFromKey(key), color: identity?.color ?? null, chars }
    })
    .sort((a, b) => b.chars - a.chars || (a.key < b.key ? -1 : 1))
  return {
    changeId: room.changes.latestId,
    length: authorship.length,
    spans: authorship.spans,
    authors: listed,
  }
}

/** A display name for an identity whose name is not known: the name a `name:` key holds, else the key. */
function nameFromKey(key: string): string {
  return key.startsWith('name:') ? key.slice(5) : key
}
