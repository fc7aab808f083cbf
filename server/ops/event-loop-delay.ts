/**
 * Event-loop delay as monitoring reads it: over a fixed rolling window (the last 60 s) and since the
 * process started, the same for every reader. Reading never resets anything, so one caller of
 * `/health` or `/metrics` cannot hide a stall from another.
 *
 * Algorithm: a timer every `resolutionMs` records how late it fired (µs) into the histogram of the
 * current slot (`windowMs / slots` long) and into one kept since start. A slot is cleared when it
 * is reused for a new period, so the window is the slots of the last `windowMs`; its maximum is
 * exact, its p99 comes from the slots' histograms added together. (Node's `monitorEventLoopDelay`
 * is not used: after each `reset()` it skips its next sample, which is where a stall would show.)
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks'

export interface EventLoopDelayOptions {
  /** Interval of the sampling timer. */
  resolutionMs: number
  /** Length of the rolling window. */
  windowMs: number
  /** Slots the window is kept in (its granularity). */
  slots: number
}

/** Delay statistics over a span, in ms. */
export interface DelayStats {
  maxMs: number
  p99Ms: number
}

interface Slot {
  /** Which period (`floor(now / slotMs)`) the histogram holds. */
  period: number
  histogram: RecordableHistogram
}

const DEFAULTS: EventLoopDelayOptions = { resolutionMs: 10, windowMs: 60_000, slots: 12 }

export class EventLoopDelay {
  readonly options: EventLoopDelayOptions
  private readonly slots: Slot[]
  private readonly sinceStart = createHistogram()
  private readonly slotMs: number
  private timer: NodeJS.Timeout | null = null
  private expected = 0

  constructor(options: Partial<EventLoopDelayOptions> = {}) {
    this.options = { ...DEFAULTS, ...options }
    this.slotMs = this.options.windowMs / this.options.slots
    this.slots = Array.from({ length: this.options.slots }, () => ({
      period: -1,
      histogram: createHistogram(),
    }))
  }

  /** Starts sampling (the timer does not keep the process alive). */
  start(): this {
    if (this.timer) return this
    this.expected = performance.now() + this.options.resolutionMs
    this.timer = setInterval(() => this.sample(), this.options.resolutionMs)
    this.timer.unref()
    return this
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Over the last `windowMs` (zeros before the first sample). */
  window(): DelayStats {
    const current = this.period(performance.now())
    const merged = createHistogram()
    for (const slot of this.slots) {
      if (slot.period > current - this.options.slots && slot.histogram.count > 0) merged.add(slot.histogram)
    }
    return stats(merged)
  }

  /** Since `start()`. */
  total(): DelayStats {
    return stats(this.sinceStart)
  }

  private sample(): void {
    const now = performance.now()
    const lateUs = Math.max(1, Math.round((now - this.expected) * 1000))
    this.expected = now + this.options.resolutionMs
    const period = this.period(now)
    const slot = this.slots[period % this.slots.length]
    if (slot.period !== period) {
      slot.histogram.reset()
      slot.period = period
    }
    slot.histogram.record(lateUs)
    this.sinceStart.record(lateUs)
  }

  private period(now: number): number {
    return Math.floor(now / this.slotMs)
  }
}

function stats(histogram: RecordableHistogram): DelayStats {
  if (histogram.count === 0) return { maxMs: 0, p99Ms: 0 }
  return {
    maxMs: Math.round(histogram.max / 100) / 10,
    p99Ms: Math.round(histogram.percentile(99) / 100) / 10,
  }
}
