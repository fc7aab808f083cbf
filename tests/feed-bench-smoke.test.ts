/**
 * The change-feed benchmark (bench/feed/run.ts, `npm run bench:feed`) in a tiny configuration: the
 * harness starts the compiled server and the floor, opens every client, delivers every change and
 * resumes exactly, and its results are complete and sane. No timing thresholds: the figures are
 * only checked to be positive and finite.
 */
import { describe, expect, it } from 'vitest'
import { runFeedBench } from '../bench/feed/run.ts'

describe('feed benchmark (tiny)', () => {
  it('measures idle memory, fan-out CPU and resume for every system', { timeout: 240_000 }, async () => {
    const result = await runFeedBench({
      runs: 1,
      subscribers: 30,
      rooms: 3,
      fanout: 10,
      changes: 5,
      resume: 30,
      storage: 'memory',
      profileDir: null,
      pin: false,
      log: () => {},
    })
    const [run] = result.runs
    expect(result.runs).toHaveLength(1)
    expect(run.idle.map((s) => s.system)).toEqual(['tandem-sse', 'tandem-ws', 'floor-sse'])
    for (const sample of run.idle) {
      expect(sample.clients).toBe(27)
      expect(Number.isFinite(sample.rssPerClientBytes)).toBe(true)
      expect(Number.isFinite(sample.heapPerClientBytes)).toBe(true)
    }
    expect(run.fanout.map((s) => s.system)).toEqual(['tandem-sse', 'tandem-ws', 'floor-sse'])
    for (const sample of run.fanout) {
      expect(sample).toMatchObject({ clients: 10, changes: 5 })
      expect(sample.serverCpuUs).toBeGreaterThan(0)
      expect(sample.cpuPerDeliveryNs).toBeGreaterThan(0)
      expect(sample.generatorCore).toBeGreaterThanOrEqual(0)
    }
    // Each resume checked its last id against the writer's (it throws otherwise).
    expect(run.resume.map((s) => s.from)).toEqual(['memory', 'store-cold', 'store-loaded'])
    for (const sample of run.resume) {
      expect(sample.missed).toBe(30)
      expect(sample.wallMs).toBeGreaterThan(0)
      expect(sample.serverCpuMs).toBeGreaterThanOrEqual(0)
    }
    for (const ratio of Object.values(result.targets).filter((v) => typeof v === 'number'))
      expect(Number.isFinite(ratio)).toBe(true)
    expect(Object.keys(result.targets.met)).toEqual(['idle', 'cpu', 'resume'])
  })
})
