/**
 * A room's history over HTTP (PROTOCOL.md, "History and authorship"):
 *
 *   GET    /api/rooms/<room>/versions                      -> {versions: VersionInfo[]} newest first
 *   GET    /api/rooms/<room>/versions/<id>                 -> the version's text (Tandem-Version, Tandem-Change-Id)
 *   GET    /api/rooms/<room>/versions/<id>/diff?against=current|<id>
 *                                                          -> {from, against, changeId, runs, inserted, deleted}
 *   POST   /api/rooms/<room>/versions            {name}    -> 201 {version}
 *   DELETE /api/rooms/<room>/versions/<id>                 -> 204
 *   POST   /api/rooms/<room>/versions/<id>/restore {from?, to?}  -> {changeId, version}
 *
 * Reads take any access to the room, as the document's reads do (request-access.ts); writes pass
 * the write gate every HTTP write passes (write-gate.ts: origin, rate limits, edit access, body
 * limit; a view token gets 403 `forbidden`). The room is held for the request (room-hold.ts) and
 * its versions come from the history hub (history/history-hub.ts). Diffs are computed by the
 * process's TextDiffer (history/text-differ.ts: long ones off the event loop; 503 when too many
 * wait), runs turning the version's text into the other one. A restore (history/restore.ts) is one
 * text edit credited to the caller, durable before the answer, then a `restore` version.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { roomNameProblem } from '../../shared/protocol/index.ts'
import { displayName } from '../authorship/identity.ts'
import type { ServerConfig } from '../config/config.ts'
import {
  type Differ,
  RestoreBusyError,
  RestoreConflictError,
  type RestoreRange,
  RestoreRangeError,
  restoreVersion,
} from '../history/restore.ts'
import type { DiffCleanup, TextDiff } from '../history/text-diff.ts'
import { DiffBusyError, textDiffer } from '../history/text-differ.ts'
import { READ_UNITS_PER_ITEM } from '../limits/text-walk.ts'
import type { VersionInfo } from '../store/history-store.ts'
import { ApiError, sendApiError } from './api-error.ts'
import { sendJson } from './http-routes.ts'
import type { RequestAccess } from './request-access.ts'
import { type RequestRooms, withRoom } from './room-hold.ts'
import type { EditableRoom } from './text-edit.ts'
import { parseJson, type WriteGate } from './write-gate.ts'

/** Largest JSON body of a history write (a name, a range), in bytes. */
export const MAX_HISTORY_BODY_BYTES = 4096

/** Longest version name, in characters (code points). */
export const MAX_VERSION_NAME = 100

/** What the API needs of a room's versions (history/versioner.ts `Versioner`). */
export interface VersionSource {
  /** The room's versions, oldest first. */
  list(): Promise<VersionInfo[]>
  /** Version `id`'s text; null when there is no such version. */
  text(id: number): Promise<string | null>
  name(name: string, by: string | null): Promise<VersionInfo>
  /** False when there was no such version. */
  remove(id: number): Promise<boolean>
  recordRestore(from: VersionInfo, by: string | null): Promise<VersionInfo>
}

/** What the API needs of a room (rooms/room.ts `Room`). */
export type HistoryRoom = EditableRoom

export interface HistoryApiOptions<R extends HistoryRoom> {
  rooms: RequestRooms<R>
  /** The versions of a loaded room (history/history-hub.ts `HistoryHub`); throws for a room without. */
  history: { of(room: R): VersionSource }
  /** Who may read: any access to the room (request-access.ts). */
  access: RequestAccess
  /** What every HTTP write passes (write-gate.ts; the server's one, shared with document writes). */
  gate: WriteGate
  /** Diffs two texts (default: the process's TextDiffer). */
  diff?: Differ
  config: Pick<ServerConfig, 'maxRoomsLoaded'>
  /** True while the server shuts down: 503. */
  closing(): boolean
  log: Logger
}

/** Which history route a request names. */
type Route =
  | { room: string; action: 'list' | 'name' }
  | { room: string; action: 'text' | 'remove' | 'diff' | 'restore'; id: string }

const ROUTE = /^\/api\/rooms\/([^/]+)\/versions(?:\/([^/]+)(?:\/(diff|restore))?)?$/

/** Returns an HttpRoutes fallback answering the routes above and declining everything else. */
export function createHistoryApi<R extends HistoryRoom>(options: HistoryApiOptions<R>) {
  const api = new HistoryApi(options)
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const match = ROUTE.exec(url.pathname)
    if (!match) return false
    try {
      await api.handle(req, res, url, routeOf(req, res, match))
    } catch (err) {
      if (!(err instanceof ApiError) || res.headersSent) throw err
      // The rest of a body past its limit is not read: the connection closes after the answer.
      if (err.status === 413) res.setHeader('connection', 'close')
      sendApiError(res, err)
    }
    return true
  }
}

/** The route for `req`'s method on a matched path; 405 (with Allow) for another method. */
function routeOf(req: IncomingMessage, res: ServerResponse, match: RegExpExecArray): Route {
  const [, room, id, sub] = match
  const method = req.method === 'HEAD' ? 'GET' : req.method
  const methods: Record<string, Route['action']> =
    id === undefined
      ? { GET: 'list', POST: 'name' }
      : sub === undefined
        ? { GET: 'text', DELETE: 'remove' }
        : sub === 'diff'
          ? { GET: 'diff' }
          : { POST: 'restore' }
  const action = methods[method ?? '']
  if (!action) {
    const allowed = Object.keys(methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))
    res.setHeader('allow', allowed.join(', '))
    throw new ApiError(405, 'method_not_allowed', `use ${allowed.join(' or ')}`)
  }
  return action === 'list' || action === 'name' ? { room, action } : { room, action, id: id! }
}

class HistoryApi<R extends HistoryRoom> {
  private readonly diff: Differ

  constructor(private readonly options: HistoryApiOptions<R>) {
    this.diff = options.diff ?? ((from, to, cleanup) => textDiffer.diff(from, to, cleanup))
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, route: Route): Promise<void> {
    const { room } = route
    switch (route.action) {
      case 'list':
        return this.read(req, url, room, async (versions) => {
          sendJson(res, 200, { versions: (await versions.list()).reverse() })
        })
      case 'text':
        return this.read(req, url, room, async (versions, _loaded, charge) => {
          const id = versionId(route.id)
          const [info, text] = await Promise.all([find(versions, id), versions.text(id)])
          if (text === null) throw notFound(id)
          charge(text.length / READ_UNITS_PER_ITEM)
          res.writeHead(200, {
            'content-type': 'text/plain; charset=utf-8',
            'content-length': Buffer.byteLength(text),
            'tandem-version': String(id),
            'tandem-change-id': String(info.changeId),
            'cache-control': 'no-cache',
          })
          res.end(text)
        })
      case 'diff':
        return this.read(req, url, room, (versions, loaded, charge) =>
          this.answerDiff(res, versions, loaded, versionId(route.id), against(url), charge),
        )
      case 'name':
        return this.write(req, url, room, async (versions, _loaded, author, body) => {
          const version = await versions.name(versionName(body), author)
          sendJson(res, 201, { version })
        })
      case 'remove':
        return this.write(req, url, room, async (versions) => {
          const id = versionId(route.id)
          if (!(await versions.remove(id))) throw notFound(id)
          res.writeHead(204, { 'cache-control': 'no-store' }).end()
        })
      case 'restore':
        return this.restore(req, res, url, room, versionId(route.id))
    }
  }

  /** Answers a diff of version `id` against the current text or version `other`. */
  private async answerDiff(
    res: ServerResponse,
    versions: VersionSource,
    loaded: R,
    id: number,
    other: number | 'current',
    charge: (items: number) => void,
  ): Promise<void> {
    const [info, text] = await Promise.all([find(versions, id), versions.text(id)])
    if (text === null) throw notFound(id)
    let target: string
    let changeId: number
    if (other === 'current') {
      changeId = loaded.changes.latestId
      target = loaded.changes.text()
    } else {
      const [otherInfo, otherText] = await Promise.all([find(versions, other), versions.text(other)])
      if (otherText === null) throw notFound(other)
      changeId = otherInfo.changeId
      target = otherText
    }
    charge((text.length + target.length) / READ_UNITS_PER_ITEM)
    const diff = await this.diffOrBusy(text, target, 'semantic')
    sendJson(res, 200, { from: info.id, against: other, changeId, ...diff })
  }

  /** Brings back version `id` (whole, or the range the body names) as the caller's change. */
  private restore(req: IncomingMessage, res: ServerResponse, url: URL, room: string, id: number) {
    const { log } = this.options
    return this.write(req, url, room, async (versions, loaded, by, body, admitted) => {
      const range = restoreRange(body)
      const [info, text] = await Promise.all([find(versions, id), versions.text(id)])
      if (text === null) throw notFound(id)
      try {
        const result = await restoreVersion(loaded, versions, info, text, range, admitted.author, {
          differ: (from, to, cleanup) => this.diffOrBusy(from, to, cleanup),
          meter: admitted.meter,
        })
        log.debug({ room, version: id, range, by, changeId: result.changeId }, 'version restored over HTTP')
        sendJson(res, 200, result)
      } catch (err) {
        if (err instanceof RestoreRangeError) throw new ApiError(400, 'bad_range', err.message)
        if (err instanceof RestoreConflictError) throw new ApiError(409, 'restore_conflict', err.message)
        if (err instanceof RestoreBusyError) throw new ApiError(503, 'unavailable', err.message, 1)
        throw err
      }
    })
  }

  private async diffOrBusy(from: string, to: string, cleanup: DiffCleanup): Promise<TextDiff> {
    try {
      return await this.diff(from, to, cleanup)
    } catch (err) {
      if (err instanceof DiffBusyError) throw new ApiError(503, 'unavailable', err.message, 1)
      throw err
    }
  }

  /** Runs a read of `room`'s versions with the room held, once the request may read it. */
  private async read(
    req: IncomingMessage,
    url: URL,
    room: string,
    answer: (versions: VersionSource, loaded: R, charge: (items: number) => void) => Promise<void>,
  ): Promise<void> {
    const { rooms, config, log } = this.options
    const problem = roomNameProblem(room)
    if (problem) throw new ApiError(400, 'bad_room', problem)
    if (this.options.closing()) throw new ApiError(503, 'unavailable', 'server is shutting down')
    await this.options.access(req, room, url)
    // Texts rebuilt or compared are charged to the address (limits/text-walk.ts): 429 once spent.
    const charge = this.options.gate.readBudget(req)
    const hold = { maxRoomsLoaded: config.maxRoomsLoaded, log, what: 'a history read' }
    await withRoom(rooms, hold, room, (loaded) => answer(this.versionsOf(loaded), loaded, charge))
  }

  /** Runs a write to `room`'s history once the write gate lets it through, with the room held. */
  private async write(
    req: IncomingMessage,
    url: URL,
    room: string,
    run: (
      versions: VersionSource,
      loaded: R,
      by: string | null,
      body: unknown,
      admitted: Awaited<ReturnType<WriteGate['admit']>>,
    ) => Promise<void>,
  ): Promise<void> {
    const { gate, rooms } = this.options
    const admitted = await gate.admit(req, url, room, MAX_HISTORY_BODY_BYTES)
    const body = admitted.body.byteLength === 0 ? {} : parseJson(admitted.body)
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError(400, 'bad_request', 'the body must be a JSON object')
    }
    const by = displayName(admitted.author)
    await gate.write(rooms, room, (loaded) => run(this.versionsOf(loaded), loaded, by, body, admitted))
  }

  private versionsOf(loaded: R): VersionSource {
    try {
      return this.options.history.of(loaded)
    } catch (err) {
      this.options.log.warn({ err, room: loaded.name }, 'history not attached to a loaded room')
      throw new ApiError(503, 'unavailable', 'the room is loading or unloading; try again', 1)
    }
  }
}

function notFound(id: number): ApiError {
  return new ApiError(404, 'version_not_found', `no version ${id} in this room`)
}

/** Version `id`'s facts; 404 when there is none. */
async function find(versions: VersionSource, id: number): Promise<VersionInfo> {
  const info = (await versions.list()).find((version) => version.id === id)
  if (!info) throw notFound(id)
  return info
}

/** A version id from the path; 400 when it is not one. */
function versionId(text: string): number {
  if (!/^[1-9]\d{0,14}$/.test(text))
    throw new ApiError(400, 'bad_request', 'a version id is a positive integer')
  return Number(text)
}

/** The `against` query parameter: `current` (also when missing) or a version id. */
function against(url: URL): number | 'current' {
  const param = url.searchParams.get('against')
  return param === null || param === 'current' ? 'current' : versionId(param)
}

const CONTROL_OR_LONE_SURROGATE = /[\p{Cc}\p{Cs}]/u

/** The `name` of a body: 1 to MAX_VERSION_NAME characters once trimmed, no controls; else 400. */
function versionName(body: unknown): string {
  const name = (body as { name?: unknown }).name
  const trimmed = typeof name === 'string' ? name.trim() : ''
  const length = [...trimmed].length
  if (length === 0 || length > MAX_VERSION_NAME || CONTROL_OR_LONE_SURROGATE.test(trimmed)) {
    throw new ApiError(
      400,
      'bad_request',
      `name must be a string of 1 to ${MAX_VERSION_NAME} characters, no control characters`,
    )
  }
  return trimmed
}

/** The range `{from, to}` of a restore's body (both or neither; null for neither); else 400. */
function restoreRange(body: unknown): RestoreRange | null {
  const { from, to } = body as { from?: unknown; to?: unknown }
  if (from === undefined && to === undefined) return null
  const isIndex = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
  if (!isIndex(from) || !isIndex(to)) {
    throw new ApiError(400, 'bad_range', 'from and to must both be given, as non-negative integers')
  }
  return { from: from as number, to: to as number }
}
