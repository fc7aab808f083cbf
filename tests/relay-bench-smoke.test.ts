/**
 * Keeps the relay benchmark from rotting: a few-second run of the real harness (bundles, pinned
 * server and generator processes, stock-client driver checks that every client's shared text
 * converged, then the typing workload and a one-step ramp, 1 room x 3 clients replaying the editing
 * trace, for three systems). No thresholds: it checks only that every row was produced and that
 * document and awareness updates were counted apart.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, expect, it } from 'vitest'
import { SHARED_TEXT, TRACE_NAME } from '../bench/relay/edit-script.ts'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
let dir: string | null = null

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = null
})

it('edits the text the browser client edits', () => {
  const editor = readFileSync(join(root, 'client/src/editor.ts'), 'utf8')
  expect(editor).toContain(`export const TEXT_NAME = '${SHARED_TEXT}'`)
})

it('runs the relay benchmark harness end to end (smoke size)', async () => {
  dir = mkdtempSync(join(tmpdir(), 'tandem-bench-smoke-'))
  const out = join(dir, 'relay.json')
  await run(process.execPath, ['--import', 'tsx', 'bench/relay/run.ts', '--smoke', '--out', out], {
    cwd: root,
    timeout: 55_000,
  })
  const results = JSON.parse(readFileSync(out, 'utf8')) as {
    trace: string
    rows: Array<Record<string, unknown>>
  }
  expect(results.trace).toBe(TRACE_NAME)
  const systems = ['tandem-durable', 'tandem-memory', 'raw-relay']
  expect(results.rows.map((row) => `${row.workload} ${row.system}`)).toEqual([
    ...systems.map((system) => `typing ${system}`),
    ...systems.map((system) => `ramp ${system}`),
  ])
  // Whether a ramp step held depends on timing; only the typing rows must carry every figure.
  for (const row of results.rows.filter((r) => r.workload === 'typing')) {
    for (const key of [
      'updatesPerSec',
      'awarenessPerSec',
      'p50Ms',
      'p99Ms',
      'cpuPct',
      'cpuUsPerUpdate',
      'rssBytes',
      'generatorCpuPct',
      'loopDelayMaxMs',
      'textLength',
    ]) {
      expect(typeof row[key], `${row.system} ${row.workload} ${key}`).toBe('number')
    }
    expect(row.updatesPerSec).toBeGreaterThan(0)
    expect(row.awarenessPerSec).toBeGreaterThan(0)
    expect(row.textLength).toBeGreaterThan(0)
    expect(row.delivery).toBeGreaterThan(0)
    expect(typeof row.generatorBound).toBe('boolean')
  }
  for (const row of results.rows.filter((r) => r.workload === 'ramp')) {
    expect(['server', 'generator', 'machine', 'none']).toContain(row.limit)
    const steps = row.steps as Array<{ updatesPerSec: number; verdict: string }>
    expect(steps.length).toBeGreaterThan(0)
    for (const step of steps) expect(step.updatesPerSec).toBeGreaterThan(0)
  }
}, 60_000)
