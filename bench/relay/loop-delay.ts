/**
 * Event-loop delay as the benchmark reports it, for the servers (./probe.ts) and the generator: a
 * `monitorEventLoopDelay` histogram records the whole interval between runs of its timer, so an idle
 * loop reads as the sampling period; the delay is what exceeds it.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'

/** Sampling period of the histograms (ms). */
export const LOOP_RESOLUTION_MS = 10

/** A started histogram of event-loop delay. */
export function loopHistogram(): IntervalHistogram {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  histogram.enable()
  return histogram
}

/** The delay in ms of a value (ns) read from such a histogram: the part beyond the sampling period. */
export function loopDelayMs(recordedNs: number): number {
  return Math.max(0, recordedNs / 1e6 - LOOP_RESOLUTION_MS)
}
