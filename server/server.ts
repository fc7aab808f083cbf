/**
 * The Tandem server as a library: an HTTP server (the access API, the browser client, monitoring)
 * and the y-websocket relay on the same port. `createServer(config)` wires the parts; `listen()`
 * and `close()` run it.
 *
 *   upgrade /<room> -> ws/upgrade.ts (target, room name, limits/ admit, authenticate)
 *                   -> ws/accept.ts (Connection, live access) -> rooms/room-registry.ts open
 *   Connection frame -> ws/incoming.ts decodeIncoming -> bounds, authorize (ws/connection.ts)
 *                    -> Room (admission/: shape, admission) -> rooms/commit-queue.ts -> store/ -> relay
 *                                                                                    -> fanout/ RoomBus (Redis) -> other instances
 *   GET /health, /ready, /metrics -> ops/monitoring.ts; /api/... -> http/access-api.ts; else static files
 *
 * Every network callback (request, upgrade, message, close, timer) is guarded where it enters our
 * code: a throw is logged and closes at most the request or connection it came from.
 */
import type { Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { CloseCode, StorageState } from '../shared/protocol/index.ts'
import { TokenAuthenticator } from './auth/authenticator.ts'
import { LiveAccess } from './auth/live-access.ts'
import { RoomPolicies } from './auth/room-policy.ts'
import { resolveConfig, type ServerConfig } from './config/config.ts'
import { BusKind } from './fanout/bus-message.ts'
import { RedisBus } from './fanout/redis-bus.ts'
import type { RoomBus, RoomBusListener } from './fanout/room-bus.ts'
import { FeedHub } from './feed/feed-hub.ts'
import { HistoryHub } from './history/history-hub.ts'
import { createAccessApi } from './http/access-api.ts'
import { createAuthorsApi } from './http/authors-api.ts'
import { createDocumentApi } from './http/document-api.ts'
import { createDocumentWrites } from './http/document-writes.ts'
import { createHistoryApi } from './http/history-api.ts'
import { createHttpListener, listenOn } from './http/http-listener.ts'
import { type FallbackHandler, HttpRoutes } from './http/http-routes.ts'
import { requestAccess } from './http/request-access.ts'
import { createStaticHandler } from './http/static-files.ts'
import { WriteGate } from './http/write-gate.ts'
import { HttpConnectionLimits } from './limits/http-connection-limits.ts'
import { UpgradeLimits } from './limits/upgrade-limits.ts'
import { createLogger } from './ops/logger.ts'
import { Monitoring } from './ops/monitoring.ts'
import { CommitQueue } from './rooms/commit-queue.ts'
import type { Room } from './rooms/room.ts'
import { RoomRegistry } from './rooms/room-registry.ts'
import { type DocStore, openStore } from './store/index.ts'
import { createAccept } from './ws/accept.ts'
import { type Connection, uncorkAll } from './ws/connection.ts'
import { Heartbeat } from './ws/heartbeat.ts'
import { createSocketServer } from './ws/socket-server.ts'
import { type Authenticate, createUpgradeHandler, grantEdit } from './ws/upgrade.ts'

export interface TandemServer {
  readonly config: ServerConfig
  readonly log: Logger
  readonly rooms: RoomRegistry
  /** Versions of the loaded rooms (`history.of(room)`), attached and detached with them. */
  readonly history: HistoryHub
  readonly store: DocStore
  /** The Redis bus to the other instances (null without `redisUrl`). */
  readonly bus: RoomBus | null
  /**
   * Starts listening; resolves with the bound address (useful with port 0), and the monitoring
   * listener's port when `monitorPort` is set.
   */
  listen(): Promise<{ port: number; host: string; monitorPort: number | null }>
  /** Stops accepting, closes every socket with 1012, flushes and unloads every room, closes the store. */
  close(): Promise<void>
  /** Open WebSocket connections. */
  readonly connectionCount: number
  /** The monitoring listener's port once listening (`monitorPort`), else null. */
  readonly monitorPort: number | null
}

export interface ServerHooks {
  /**
   * Decides who may connect to a room (default: with `authSecret`, a room token; without, everyone
   * may edit). Passing both this and `authSecret` throws.
   */
  authenticate?: Authenticate
}

/** Builds a server from a partial config (see `defaultConfig`); throws on contradictory options. */
export function createServer(partial: Partial<ServerConfig> = {}, hooks: ServerHooks = {}): TandemServer {
  const config = resolveConfig(partial)
  if (config.authSecret && hooks.authenticate) {
    throw new TypeError('option "authSecret" and hooks.authenticate contradict each other; pass only one')
  }
  const log = config.logger ?? createLogger(config.logLevel)
  const store = config.store ?? openStore(config)
  const connections = new Set<Connection>()
  let closing: Promise<void> | null = null
  const monitoring: Monitoring = new Monitoring(config, log, {
    closing: () => closing !== null,
    connections: () => connections.size,
    rooms: () => rooms.size,
    storeFailures: () => commits.failures,
    store,
    bus: () => bus,
  })
  const { metrics, noteWork } = monitoring
  const commits = new CommitQueue(store, log, {
    noteWork,
    afterFollowUps: uncorkAll,
    metrics,
    retryMinMs: config.storeRetryMinMs,
    retryMaxMs: config.storeRetryMaxMs,
    onFailingChange: (failing) => {
      for (const room of rooms.loaded())
        room.announceStorage(failing ? StorageState.failing : StorageState.ok)
    },
  })
  const history = new HistoryHub({ store: store.versions, config, log })
  const lifecycle = {
    loaded: (room: Room) => void history.attach(room),
    unloading: (room: Room) => history.detach(room),
  }
  const rooms = new RoomRegistry(
    store,
    commits,
    { ...config, metrics, fanoutMetrics: metrics, lifecycle },
    log,
  )
  // What other instances publish: versions go to history (the feeds' `version` events), the rest to the rooms.
  const listener: RoomBusListener = {
    message: (room, entry) =>
      entry.kind === BusKind.version ? history.heard(room, entry.payload) : rooms.message(room, entry),
    resync: (names) => rooms.resync(names),
  }
  const bus: RoomBus | null = config.redisUrl
    ? new RedisBus({ url: config.redisUrl, prefix: config.redisPrefix, listener, log, metrics })
    : null
  if (bus) {
    rooms.useBus(bus)
    history.useBus(bus)
  }
  const access = config.authSecret ? accessControl(config.authSecret, config, store, bus, log) : null

  const limits = new UpgradeLimits(config, rooms)
  const httpLimits = new HttpConnectionLimits(config)
  const feeds = new FeedHub<Room>({ rooms, store, config, log, metrics, history })
  const requests = requestAccess(hooks.authenticate, access?.authenticator ?? null)
  const documents = createDocumentApi({
    rooms,
    feeds,
    access: requests,
    streamLimits: limits,
    httpLimits,
    live: access?.live ?? null,
    config,
    closing: () => closing !== null,
    log,
  })
  const gate = new WriteGate({ access: requests, config, closing: () => closing !== null, log })
  const writes = createDocumentWrites({
    rooms,
    store,
    access: requests,
    config,
    closing: () => closing !== null,
    log,
    gate,
  })
  const versions = createHistoryApi({
    rooms,
    history,
    access: requests,
    gate,
    config,
    closing: () => closing !== null,
    log,
  })
  const authors = createAuthorsApi({
    rooms,
    access: requests,
    gate,
    config,
    closing: () => closing !== null,
    log,
  })
  const http = publicListener(config, log, monitoring, access, httpLimits, [
    documents,
    writes,
    authors,
    versions,
  ])
  http.on(
    'upgrade',
    createUpgradeHandler({
      wss: createSocketServer(config),
      log,
      authenticate: hooks.authenticate ?? access?.authenticator.authenticate ?? grantEdit,
      admit: limits.admit,
      closing: () => closing !== null,
      accept: createAccept({
        rooms,
        connections,
        live: access?.live ?? null,
        roomOpening: (socket) => limits.roomOpening(socket),
        limits: config,
        log,
        noteWork,
        metrics,
      }),
    }),
  )
  const heartbeat = new Heartbeat(connections, config.heartbeatMs, log)

  return {
    config,
    log,
    rooms,
    history,
    store,
    bus,
    get connectionCount() {
      return connections.size
    },
    get monitorPort() {
      return monitoring.port
    },
    async listen() {
      await store.ready
      const address = await listenOn(http, config.port, config.host)
      const monitorPort = await monitoring.listen().catch((err: unknown) => {
        http.close()
        throw err
      })
      log.info({ port: address.port, host: address.address, storage: config.storage }, 'listening')
      if (!config.authSecret && !hooks.authenticate) {
        log.warn('access control is off: rooms are open to anyone with the URL (set TANDEM_AUTH_SECRET)')
      }
      return { port: address.port, host: address.address, monitorPort }
    },
    close() {
      closing ??= shutdown({
        heartbeat,
        monitoring,
        http,
        feeds,
        connections,
        rooms,
        history,
        commits,
        bus,
        store,
        log,
      })
      return closing
    },
  }
}

/**
 * The public HTTP listener: the monitoring routes, the document reads, change feed and writes, the
 * access API, then the static client. A socket counts under the HTTP connection limits until it
 * asks to upgrade (or opens a change feed), and under the upgrade limits from then on.
 */
function publicListener(
  config: ServerConfig,
  log: Logger,
  monitoring: Monitoring,
  access: AccessControl | null,
  httpLimits: HttpConnectionLimits,
  documents: FallbackHandler[],
): HttpServer {
  const routes = monitoring.addPublicRoutes(new HttpRoutes(log))
  for (const handler of documents) routes.fallback(handler)
  routes.fallback(createAccessApi({ config, auth: access, log }))
  if (config.staticDir) {
    const serveStatic = createStaticHandler(config.staticDir)
    routes.fallback((req, res, url) => serveStatic(req, res, url.pathname))
  }
  const http = createHttpListener(
    config,
    log,
    routes.handle,
    config.maxConnections + config.maxHttpConnections,
  )
  http.on('connection', httpLimits.connection)
  // Before the upgrade handler: from its upgrade request on, a socket counts under the upgrade limits.
  http.prependListener('upgrade', (_req, socket) => httpLimits.upgraded(socket as Socket))
  return http
}

/** A server's parts, as shutdown stops them. */
interface RunningParts {
  heartbeat: Heartbeat
  monitoring: Monitoring
  http: HttpServer
  feeds: Pick<FeedHub, 'close'>
  connections: Set<Connection>
  rooms: RoomRegistry
  history: HistoryHub
  commits: CommitQueue
  bus: RoomBus | null
  store: DocStore
  log: Logger
}

/** How long a peer has to answer the shutdown's close frame before its socket is dropped. */
const CLOSE_GRACE_MS = 2_000

/**
 * Stops a server, in order: no new connections or requests; every change feed ended and every
 * socket closed with 1012 (clients reconnect elsewhere); rooms flushed and unloaded (each with its last
 * version), history's thinning stopped; the commit
 * queue drained; then the bus (after the last commits' publishes) and the store; last, the HTTP
 * sockets still open.
 */
async function shutdown(parts: RunningParts): Promise<void> {
  const { monitoring, http, connections, log } = parts
  parts.heartbeat.stop()
  monitoring.stop()
  http.close()
  parts.feeds.close()
  await Promise.all(
    [...connections].map((c) => c.closeWithin(CloseCode.serviceRestart, 'server restarting', CLOSE_GRACE_MS)),
  )
  await parts.rooms.closeAll()
  await parts.history.close()
  await parts.commits.drain()
  // Publishes of the last commits go out before the connection to Redis closes.
  await parts.bus?.close()
  await parts.store.close()
  http.closeAllConnections()
  monitoring.closeAllConnections()
  log.info('closed')
}

/** What access control consists of: the token checks, and live access for open connections. */
interface AccessControl {
  authenticator: TokenAuthenticator
  live: LiveAccess
}

/**
 * Access control with `authSecret`: room policies (modes, revocations) from the store, announced to
 * every instance through the bus; the token checks; and live access, which re-checks open
 * connections when a policy changes.
 */
function accessControl(
  secret: string,
  config: ServerConfig,
  store: DocStore,
  bus: RoomBus | null,
  log: Logger,
): AccessControl {
  const policies = new RoomPolicies(store, {
    maxRevocationsPerRoom: config.maxRevocationsPerRoom,
    // Every instance re-reads a changed policy from the store (revocations and modes hold everywhere).
    announce: bus ? (room) => bus.publishPolicy(room) : undefined,
  })
  const live = new LiveAccess(policies, log)
  if (bus) bus.usePolicyListener(live)
  return { authenticator: new TokenAuthenticator(secret, policies, config.maxLinkTtlSeconds), live }
}
