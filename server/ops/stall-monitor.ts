/**
 * Finds event-loop stalls and what ran around them. A 10 ms timer measures its own lateness; when
 * it is late by `thresholdMs` or more, one warn line names the stall and the events recorded in the
 * window before it: garbage collections (from the `gc` performance entries, with their duration),
 * compactions and slow store calls (`note()`d by the commit queue). That answers "what caused this
 * spike" from the log of a running server, without a profiler.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks'
import type { Logger } from 'pino'

interface StallEvent {
  /** performance.now() when it started. */
  at: number
  kind: string
  ms: number
  detail?: string
}

const GC_KINDS: Record<number, string> = { 1: 'gc minor', 2: 'gc major', 4: 'gc incremental', 8: 'gc weakcb' }
const TICK_MS = 10
/** How far back events are kept and reported. */
const WINDOW_MS = 2_000

export class StallMonitor {
  private readonly events: StallEvent[] = []
  private readonly timer: NodeJS.Timeout
  private readonly gcObserver: PerformanceObserver
  private expected = performance.now() + TICK_MS
  /** Stalls seen so far (for /health and tests). */
  stalls = 0

  constructor(
    private readonly log: Logger,
    private readonly thresholdMs: number,
  ) {
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0
        this.record({ at: entry.startTime, kind: GC_KINDS[kind] ?? 'gc', ms: entry.duration })
      }
    })
    this.gcObserver.observe({ entryTypes: ['gc'] })
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  /** Records something that ran on this thread for `ms` (ending now), to be named if a stall follows. */
  note(kind: string, ms: number, detail?: string): void {
    this.record({ at: performance.now() - ms, kind, ms, detail })
  }

  stop(): void {
    clearInterval(this.timer)
    this.gcObserver.disconnect()
  }

  private record(event: StallEvent): void {
    this.events.push(event)
    const horizon = performance.now() - WINDOW_MS
    while (this.events.length > 0 && this.events[0].at < horizon) this.events.shift()
  }

  private tick(): void {
    const now = performance.now()
    const late = now - this.expected
    this.expected = now + TICK_MS
    if (late < this.thresholdMs) return
    this.stalls++
    const since = now - late - TICK_MS
    const around = this.events
      .filter((event) => event.at + event.ms >= since - TICK_MS)
      .map((event) => ({
        kind: event.kind,
        ms: Math.round(event.ms * 10) / 10,
        startedMsBeforeStallEnd: Math.round(now - event.at),
        ...(event.detail ? { detail: event.detail } : {}),
      }))
    this.log.warn({ stallMs: Math.round(late), events: around }, `event loop stalled ${Math.round(late)} ms`)
  }
}
