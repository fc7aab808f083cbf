/**
 * `npm run bench:engines`: OT vs ot-text-unicode vs plain string vs Yjs on the editing traces.
 * Flags: --runs N (default 5), --traces a,b (sequential subset), --budget MS per engine and trace
 * (default 10000), --out DIR (default bench/results). Run under node --expose-gc for heap figures.
 * Writes DIR/engines.json and DIR/engines.svg and prints the tables.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { repoRoot, traceNames } from '../tests/helpers/traces.ts'
import { resultsTable, runEngineBench } from './lib/engine-bench.ts'
import { barChartSvg } from './lib/svg-chart.ts'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    traces: { type: 'string' },
    budget: { type: 'string', default: '10000' },
    out: { type: 'string', default: path.join(repoRoot, 'bench/results') },
  },
})
const sequential = values.traces ? values.traces.split(',') : traceNames('sequential')
const results = runEngineBench(
  {
    sequential,
    concurrent: values.traces ? [] : traceNames('concurrent'),
    runs: Number(values.runs),
    budgetMs: Number(values.budget),
  },
  (line) => console.error(line),
)
mkdirSync(values.out, { recursive: true })
writeFileSync(path.join(values.out, 'engines.json'), `${JSON.stringify(results, null, 2)}\n`)
const engineNames = results.sequential[0]?.engines.map((e) => e.engine) ?? []
const svg = barChartSvg(
  'Replaying editing traces: edits per second (log scale, higher is better)',
  'ops/s',
  engineNames,
  results.sequential.map((s) => ({ label: s.trace, values: s.engines.map((e) => e.opsPerSec) })),
)
writeFileSync(path.join(values.out, 'engines.svg'), svg)
console.log(resultsTable(results))
