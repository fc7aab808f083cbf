/**
 * The Tandem server as a library: an HTTP server (health, the browser client) and the y-websocket
 * relay on the same port. `createServer(config)` wires the parts; `listen()` and `close()` run it.
 *
 *   upgrade /<room> -> upgrade.ts (target, room name, limits, authenticate) -> Connection -> RoomRegistry.open
 *   Connection frame -> decodeIncoming -> bounds, authorize -> Room (shape, admission) -> CommitQueue -> relay
 *                                                                                        -> RoomBus (Redis) -> other instances
 *
 * Every network callback (request, upgrade, message, close, timer) is guarded where it enters our
 * code: a throw is logged and closes at most the request or connection it came from.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { CloseCode, StorageState, TANDEM_EXTENSIONS_PARAM } from '../shared/protocol/index.ts'
import { TokenAuthenticator } from './auth/authenticator.ts'
import { LiveAccess } from './auth/live-access.ts'
import { RoomPolicies } from './auth/room-policy.ts'
import { resolveConfig, type ServerConfig } from './config/config.ts'
import { RedisBus } from './fanout/redis-bus.ts'
import type { RoomBus } from './fanout/room-bus.ts'
import { createAccessApi } from './http/access-api.ts'
import { HttpRoutes } from './http/http-routes.ts'
import { createStaticHandler } from './http/static-files.ts'
import { HttpConnectionLimits } from './limits/http-connection-limits.ts'
import { UpgradeLimits } from './limits/upgrade-limits.ts'
import { EventLoopDelay } from './ops/event-loop-delay.ts'
import type { HealthSources } from './ops/health.ts'
import { createLogger } from './ops/logger.ts'
import { ServerMetrics } from './ops/metrics.ts'
import { addMonitorRoutes } from './ops/monitor-routes.ts'
import { readinessProblems } from './ops/readiness.ts'
import { StallMonitor } from './ops/stall-monitor.ts'
import { CommitQueue } from './rooms/commit-queue.ts'
import { RoomRegistry } from './rooms/room-registry.ts'
import { type DocStore, openStore } from './store/index.ts'
import { Connection } from './ws/connection.ts'
import { type Authenticate, createUpgradeHandler, grantEdit } from './ws/upgrade.ts'

export interface TandemServer {
  readonly config: ServerConfig
  readonly log: Logger
  readonly rooms: RoomRegistry
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
  const stalls = config.stallWarnMs > 0 ? new StallMonitor(log, config.stallWarnMs) : null
  const noteWork = stalls ? stalls.note.bind(stalls) : undefined
  const loopDelay = new EventLoopDelay().start()
  const metrics = new ServerMetrics({
    connections: (): number => connections.size,
    roomsLoaded: (): number => rooms.size,
    stalls: (): number => stalls?.stalls ?? 0,
    redisUp: config.redisUrl ? (): number => (bus?.problem ? 0 : 1) : undefined,
    eventLoopDelay: () => loopDelay.window(),
  })
  const commits = new CommitQueue(store, log, {
    noteWork,
    metrics,
    retryMinMs: config.storeRetryMinMs,
    retryMaxMs: config.storeRetryMaxMs,
    onFailingChange: (failing) => {
      for (const room of rooms.loaded())
        room.announceStorage(failing ? StorageState.failing : StorageState.ok)
    },
  })
  const rooms = new RoomRegistry(
    store,
    commits,
    { ...config, unloadDelayMs: config.roomUnloadDelayMs, metrics, fanoutMetrics: metrics },
    log,
  )
  const bus: RoomBus | null = config.redisUrl
    ? new RedisBus({ url: config.redisUrl, prefix: config.redisPrefix, listener: rooms, log, metrics })
    : null
  if (bus) rooms.useBus(bus)
  const connections = new Set<Connection>()
  const policies = config.authSecret
    ? new RoomPolicies(store, {
        maxRevocationsPerRoom: config.maxRevocationsPerRoom,
        // Every instance re-reads a changed policy from the store (revocations and modes hold everywhere).
        announce: bus ? (room) => bus.publishPolicy(room) : undefined,
      })
    : null
  const authenticator =
    config.authSecret && policies
      ? new TokenAuthenticator(config.authSecret, policies, config.maxLinkTtlSeconds)
      : null
  const live = policies ? new LiveAccess(policies, log) : null
  if (bus && live) bus.usePolicyListener(live)
  const limits = new UpgradeLimits(config, rooms)
  const httpLimits = new HttpConnectionLimits(config)
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, perMessageDeflate: false })
  let closing: Promise<void> | null = null
  const health: HealthSources = {
    closing: () => closing !== null,
    storeFailures: () => commits.failures,
    rooms: () => rooms.size,
    connections: () => connections.size,
    storage: config.storage,
    stalls: () => stalls?.stalls ?? null,
    eventLoop: loopDelay,
    startedAt: Date.now(),
  }
  const monitoring = {
    health,
    metrics,
    readiness: () =>
      readinessProblems({
        store,
        storeFailures: () => commits.failures,
        closing: () => closing !== null,
        bus,
      }),
    token: config.monitorToken,
  }

  const routes = addMonitorRoutes(new HttpRoutes(log), {
    ...monitoring,
    publicOnly: config.monitorPort !== null,
  })
  routes.fallback(
    createAccessApi({
      config,
      auth: authenticator && live ? { authenticator, live } : null,
      log,
    }),
  )
  if (config.staticDir) {
    const serveStatic = createStaticHandler(config.staticDir)
    routes.fallback((req, res, url) => serveStatic(req, res, url.pathname))
  }
  const http = createHttpServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      // How often Node checks those timeouts (default 30 s, which would stretch them).
      connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
    },
    routes.handle,
  )
  http.keepAliveTimeout = config.keepAliveTimeoutMs
  // Node's own cap, a backstop: sockets past it are closed before any listener sees them.
  http.maxConnections = config.maxConnections + config.maxHttpConnections
  http.on('connection', httpLimits.connection)
  http.on('clientError', (err, socket) => {
    // headersTimeoutMs / requestTimeoutMs passed (a slow or stalled client): 408, as Node would.
    const timedOut = (err as NodeJS.ErrnoException).code === 'ERR_HTTP_REQUEST_TIMEOUT'
    log.debug({ err }, timedOut ? 'HTTP request timed out' : 'malformed HTTP request')
    const status = timedOut ? '408 Request Timeout' : '400 Bad Request'
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`)
    else socket.destroy()
  })

  http.on(
    'upgrade',
    createUpgradeHandler({
      wss,
      log,
      authenticate: hooks.authenticate ?? authenticator?.authenticate ?? grantEdit,
      admit: limits.admit,
      closing: () => closing !== null,
      accept(ws, socket, room, grant, url) {
        const connection = new Connection({
          ws,
          socket,
          roomName: room,
          wantsSaved: url.searchParams.get(TANDEM_EXTENSIONS_PARAM) === '1',
          access: grant.access,
          log,
          maxBufferedBytes: config.maxBufferedBytes,
          maxAwarenessMessageBytes: config.maxAwarenessMessageBytes,
          awarenessMessagesPerSecond: config.awarenessMessagesPerSecond,
          awarenessBurst: config.awarenessBurst,
          documentMessagesPerSecond: config.documentMessagesPerSecond,
          documentMessageBurst: config.documentMessageBurst,
          documentBytesPerSecond: config.documentBytesPerSecond,
          documentByteBurst: config.documentByteBurst,
          noteWork,
          metrics,
          onClose: (conn, loadedRoom) => {
            clearTimeout(syncDeadline)
            live?.remove(conn)
            connections.delete(conn)
            if (loadedRoom) rooms.release(loadedRoom)
          },
        })
        connections.add(connection)
        if (grant.token) live?.add(connection, grant.token)
        const syncDeadline = setTimeout(() => {
          if (connection.sentSync || connection.closed) return
          log.warn(
            { conn: connection.id, room, code: CloseCode.syncTimeout },
            'closing connection: syncTimeout: no sync message within the deadline',
          )
          connection.close(
            CloseCode.syncTimeout,
            `syncTimeout: no sync message within ${config.syncDeadlineMs} ms`,
          )
        }, config.syncDeadlineMs)
        syncDeadline.unref()
        log.debug({ conn: connection.id, room, wantsSaved: connection.wantsSaved }, 'connection opened')
        const opened = rooms.open(room)
        limits.roomOpening(socket)
        opened.then(
          (loaded) => {
            try {
              connection.attach(loaded)
            } catch (err) {
              log.error({ err, conn: connection.id, room }, 'joining the room failed')
              connection.close(CloseCode.internalError, 'internal error')
            }
            if (connection.closed) rooms.release(loaded)
          },
          (err) => {
            log.error({ err, conn: connection.id, room }, 'room failed to load')
            connection.close(CloseCode.internalError, 'room failed to load')
          },
        )
      },
    }),
  )
  // Before the handler: from its upgrade request on, a socket counts under the upgrade limits.
  http.prependListener('upgrade', (_req, socket) => httpLimits.upgraded(socket as Socket))
  // Monitoring on its own listener (loopback by default): only its routes, no upgrades.
  const monitor: HttpServer | null =
    config.monitorPort === null
      ? null
      : createHttpServer(
          { headersTimeout: config.headersTimeoutMs, requestTimeout: config.requestTimeoutMs },
          addMonitorRoutes(new HttpRoutes(log), { ...monitoring, publicOnly: false }).handle,
        )
  if (monitor) {
    monitor.keepAliveTimeout = config.keepAliveTimeoutMs
    monitor.maxConnections = MONITOR_MAX_CONNECTIONS
    monitor.on('upgrade', (_req, socket: Socket) => socket.destroy())
  }
  let monitorPort: number | null = null

  const heartbeat = setInterval(() => {
    for (const connection of connections) {
      try {
        if (!connection.alive) {
          log.info({ conn: connection.id, room: connection.roomName }, 'peer missed a heartbeat; terminating')
          connection.ws.terminate()
          continue
        }
        connection.alive = false
        connection.ws.ping()
      } catch (err) {
        log.error({ err, conn: connection.id }, 'heartbeat failed for a connection')
      }
    }
  }, config.heartbeatMs)
  heartbeat.unref()

  return {
    config,
    log,
    rooms,
    store,
    bus,
    get connectionCount() {
      return connections.size
    },
    get monitorPort() {
      return monitorPort
    },
    async listen() {
      await store.ready
      const address = await listenOn(http, config.port, config.host)
      if (monitor && config.monitorPort !== null) {
        const monitorAddress = await listenOn(monitor, config.monitorPort, config.monitorHost).catch(
          (err: unknown) => {
            http.close()
            throw err
          },
        )
        monitorPort = monitorAddress.port
        log.info({ port: monitorPort, host: monitorAddress.address }, 'monitoring endpoints listening')
      }
      log.info({ port: address.port, host: address.address, storage: config.storage }, 'listening')
      if (!config.authSecret && !hooks.authenticate) {
        log.warn('access control is off: rooms are open to anyone with the URL (set TANDEM_AUTH_SECRET)')
      }
      return { port: address.port, host: address.address, monitorPort }
    },
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat)
        loopDelay.stop()
        stalls?.stop()
        http.close()
        monitor?.close()
        const socketsClosed = [...connections].map(
          (connection) =>
            new Promise<void>((resolve) => {
              if (connection.closed) return resolve()
              connection.ws.once('close', () => resolve())
              connection.close(CloseCode.serviceRestart, 'server restarting')
              setTimeout(() => {
                connection.ws.terminate()
                resolve()
              }, 2_000).unref()
            }),
        )
        await Promise.all(socketsClosed)
        await rooms.closeAll()
        await commits.drain()
        // Publishes of the last commits go out before the connection to Redis closes.
        await bus?.close()
        await store.close()
        http.closeAllConnections()
        monitor?.closeAllConnections()
        log.info('closed')
      })()
      return closing
    },
  }
}

/** Connections the monitoring listener holds at most (its readers are a few scrapers). */
const MONITOR_MAX_CONNECTIONS = 64

/** Starts `server` listening on `host:port`; resolves with the bound address. */
function listenOn(server: HttpServer, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}
