/**
 * A server's monitoring, in one place: its Prometheus metrics, event-loop delay and stall monitor,
 * and the endpoints that report them (`/health` beside `/ready` and `/metrics`; who may read what
 * is in monitor-routes.ts), served on the public listener and, with `monitorPort`, on a listener of
 * their own (loopback by default; its routes only, no upgrades).
 */
import type { Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { ServerConfig } from '../config/config.ts'
import type { RoomBus } from '../fanout/room-bus.ts'
import { createHttpListener, type HttpListenerLimits, listenOn } from '../http/http-listener.ts'
import { HttpRoutes } from '../http/http-routes.ts'
import type { DocStore } from '../store/index.ts'
import { EventLoopDelay } from './event-loop-delay.ts'
import type { HealthSources } from './health.ts'
import { ServerMetrics } from './metrics.ts'
import { addMonitorRoutes, type MonitorRouteOptions } from './monitor-routes.ts'
import { readinessProblems } from './readiness.ts'
import { StallMonitor } from './stall-monitor.ts'

/** The options monitoring reads (each documented in ServerConfig). */
export type MonitoringConfig = HttpListenerLimits &
  Pick<ServerConfig, 'storage' | 'stallWarnMs' | 'monitorPort' | 'monitorHost' | 'monitorToken' | 'redisUrl'>

/** What the server's parts report to monitoring, read when asked (they may not exist yet). */
export interface MonitoredServer {
  closing(): boolean
  connections(): number
  rooms(): number
  /** Consecutive failed store appends (CommitQueue.failures). */
  storeFailures(): number
  store: DocStore
  /** The Redis bus, or null without one. */
  bus(): Pick<RoomBus, 'problem'> | null
}

/** Connections the monitoring listener holds at most (its readers are a few scrapers). */
const MONITOR_MAX_CONNECTIONS = 64

export class Monitoring {
  readonly metrics: ServerMetrics
  /** Tells the stall monitor about slow work (undefined without one: `stallWarnMs` 0). */
  readonly noteWork?: (kind: string, ms: number, detail?: string) => void
  private readonly loopDelay = new EventLoopDelay().start()
  private readonly stalls: StallMonitor | null
  private readonly routes: Omit<MonitorRouteOptions, 'publicOnly'>
  private readonly listener: HttpServer | null
  private boundPort: number | null = null

  constructor(
    private readonly config: MonitoringConfig,
    private readonly log: Logger,
    server: MonitoredServer,
  ) {
    this.stalls = config.stallWarnMs > 0 ? new StallMonitor(log, config.stallWarnMs) : null
    this.noteWork = this.stalls ? this.stalls.note.bind(this.stalls) : undefined
    this.metrics = new ServerMetrics({
      connections: server.connections,
      roomsLoaded: server.rooms,
      stalls: () => this.stalls?.stalls ?? 0,
      redisUp: config.redisUrl ? (): number => (server.bus()?.problem ? 0 : 1) : undefined,
      eventLoopDelay: () => this.loopDelay.window(),
    })
    const health: HealthSources = {
      closing: server.closing,
      storeFailures: server.storeFailures,
      rooms: server.rooms,
      connections: server.connections,
      storage: config.storage,
      stalls: () => this.stalls?.stalls ?? null,
      eventLoop: this.loopDelay,
      startedAt: Date.now(),
    }
    const readiness = (): Promise<string[]> =>
      readinessProblems({
        store: server.store,
        storeFailures: server.storeFailures,
        closing: server.closing,
        bus: server.bus(),
      })
    this.routes = { health, metrics: this.metrics, readiness, token: config.monitorToken }
    this.listener = config.monitorPort === null ? null : this.createListener()
  }

  /**
   * Adds the monitoring routes to the public listener's `routes`: all of them, or with a
   * monitoring listener only a bare `/health` and `/ready`.
   */
  addPublicRoutes(routes: HttpRoutes): HttpRoutes {
    return addMonitorRoutes(routes, { ...this.routes, publicOnly: this.listener !== null })
  }

  /** The monitoring listener's port once listening, else null. */
  get port(): number | null {
    return this.boundPort
  }

  /** Starts the monitoring listener (if any); resolves with its port, or null without one. */
  async listen(): Promise<number | null> {
    if (!this.listener || this.config.monitorPort === null) return null
    const address = await listenOn(this.listener, this.config.monitorPort, this.config.monitorHost)
    this.boundPort = address.port
    this.log.info({ port: address.port, host: address.address }, 'monitoring endpoints listening')
    return address.port
  }

  /** Stops sampling and stops the monitoring listener accepting; open requests run on. */
  stop(): void {
    this.loopDelay.stop()
    this.stalls?.stop()
    this.listener?.close()
  }

  /** Closes the monitoring listener's remaining sockets (the end of shutdown). */
  closeAllConnections(): void {
    this.listener?.closeAllConnections()
  }

  private createListener(): HttpServer {
    const routes = addMonitorRoutes(new HttpRoutes(this.log), { ...this.routes, publicOnly: false })
    const listener = createHttpListener(this.config, this.log, routes.handle, MONITOR_MAX_CONNECTIONS)
    listener.on('upgrade', (_req, socket: Socket) => socket.destroy())
    return listener
  }
}
