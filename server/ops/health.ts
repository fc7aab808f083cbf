/**
 * Liveness (`GET /health`): whether the process runs and answers, for load balancers, and, for the
 * operator, the details behind it (rooms, connections, store failures, stalls, event-loop delay,
 * memory). Building the answer reads counters only: it resets nothing, so every caller sees the
 * same event-loop figures (over a rolling window and since start; see event-loop-delay.ts).
 */
import type { StorageKind } from '../config/config.ts'
import type { EventLoopDelay } from './event-loop-delay.ts'

export interface HealthSources {
  closing(): boolean
  /** Consecutive failed store appends (CommitQueue.failures). */
  storeFailures(): number
  rooms(): number
  connections(): number
  storage: StorageKind
  /** Stalls the stall monitor logged, or null without one. */
  stalls(): number | null
  eventLoop: EventLoopDelay
  /** Date.now() when the server was created. */
  startedAt: number
}

/** What `/health` answers: the HTTP status and the JSON body, bare (`{status}`) or with details. */
export function healthReport(sources: HealthSources, detailed: boolean): { code: number; body: object } {
  const failures = sources.storeFailures()
  const closing = sources.closing()
  const status = closing ? 'closing' : failures > 0 ? 'degraded' : 'ok'
  const code = status === 'ok' ? 200 : 503
  if (!detailed) return { code, body: { status } }
  const memory = process.memoryUsage()
  const window = sources.eventLoop.window()
  const total = sources.eventLoop.total()
  return {
    code,
    body: {
      status,
      rooms: sources.rooms(),
      connections: sources.connections(),
      storage: sources.storage,
      storeFailures: failures,
      stalls: sources.stalls(),
      uptimeSeconds: Math.round((Date.now() - sources.startedAt) / 1000),
      eventLoop: {
        maxDelayMs: window.maxMs,
        p99DelayMs: window.p99Ms,
        windowSeconds: sources.eventLoop.options.windowMs / 1000,
        sinceStart: { maxDelayMs: total.maxMs, p99DelayMs: total.p99Ms },
      },
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    },
  }
}
