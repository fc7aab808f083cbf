/**
 * What happens to a WebSocket once upgrade.ts has let it through: it becomes a `Connection`, joins
 * the server's open connections and (with a token) live access, and its room is opened, shared
 * with any load already under way, and joined once loaded; frames that arrive meanwhile wait in
 * the connection. When the socket closes all of that is undone and the room released.
 */
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { CloseCode, TANDEM_EXTENSIONS_PARAM } from '../../shared/protocol/index.ts'
import type { RelayMetrics } from '../ops/metrics.ts'
import type { RoomRegistry } from '../rooms/room-registry.ts'
import { Connection, type ConnectionContext, type ConnectionLimits } from './connection.ts'
import type { GrantToken, UpgradeContext } from './upgrade.ts'

/** Live access as accepting needs it (LiveAccess: token expiry, revocations, mode changes). */
export interface LiveAccessSeam {
  add(connection: Connection, token: GrantToken): void
  remove(connection: Connection): void
}

export interface AcceptContext {
  rooms: Pick<RoomRegistry, 'open' | 'release'>
  /** The server's open connections: an accepted connection is in it until its socket closes. */
  connections: Set<Connection>
  /** Governs connections admitted with a token; null when there are no tokens. */
  live: LiveAccessSeam | null
  /** Told once the socket's room has started opening (UpgradeLimits.roomOpening). */
  roomOpening(socket: Duplex): void
  limits: ConnectionLimits
  log: Logger
  /** Told about a message whose handling took long (for the stall monitor). */
  noteWork?: (kind: string, ms: number, detail?: string) => void
  metrics?: RelayMetrics
}

/** Returns the `accept` step of the upgrade path (see the module comment). */
export function createAccept(context: AcceptContext): UpgradeContext['accept'] {
  const { rooms, connections, live, log } = context
  // One for every connection (a closure per connection would cost each idle one its share).
  const shared: ConnectionContext = {
    log,
    limits: context.limits,
    noteWork: context.noteWork,
    metrics: context.metrics,
    onClose: (closed, loadedRoom) => {
      live?.remove(closed)
      connections.delete(closed)
      if (loadedRoom) rooms.release(loadedRoom)
    },
  }
  return (ws, socket, room, grant, url) => {
    const connection = new Connection({
      ws,
      socket,
      roomName: room,
      wantsSaved: url.searchParams.get(TANDEM_EXTENSIONS_PARAM) === '1',
      access: grant.access,
      token: grant.token ?? null,
      context: shared,
    })
    connections.add(connection)
    if (grant.token) live?.add(connection, grant.token)
    log.debug({ conn: connection.id, room, wantsSaved: connection.wantsSaved }, 'connection opened')
    const opened = rooms.open(room)
    context.roomOpening(socket)
    opened.then(
      (loaded) => {
        try {
          connection.attach(loaded)
        } catch (err) {
          log.error({ err, conn: connection.id, room }, 'joining the room failed')
          connection.close(CloseCode.internalError, 'internal error')
        }
        // Closed while the room loaded: onClose had no room to release.
        if (connection.closed) rooms.release(loaded)
      },
      (err) => {
        log.error({ err, conn: connection.id, room }, 'room failed to load')
        connection.close(CloseCode.internalError, 'room failed to load')
      },
    )
  }
}
