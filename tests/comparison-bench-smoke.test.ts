/**
 * Smoke run of the engines benchmark (the first edits of one trace, one run, no timing thresholds) so the benchmark
 * code never rots; the real run is `npm run bench:engines`.
 */
import { describe, expect, it } from 'vitest'
import { resultsTable, runEngineBench } from '../bench/lib/engine-bench.ts'
import { barChartSvg } from '../bench/lib/svg-chart.ts'

describe('engines benchmark smoke run', () => {
  it('replays one small trace through every engine and reports correct results', () => {
    const results = runEngineBench(
      { sequential: ['json-crdt-patch'], concurrent: [], runs: 1, budgetMs: 0, limit: 2000 },
      () => {},
    )
    const [trace] = results.sequential
    expect(trace.engines.map((e) => e.engine)).toEqual([
      'tandem OT (rope)',
      'ot-text-unicode',
      'plain string splice',
      'Yjs',
    ])
    for (const e of trace.engines) expect(e.correct, e.engine).toBe(true)
    expect(resultsTable(results)).toContain('| json-crdt-patch')
    const svg = barChartSvg('t', 'ops/s', ['a'], [{ label: 'x', values: [trace.engines[0].opsPerSec] }])
    expect(svg.startsWith('<svg')).toBe(true)
  })
})
