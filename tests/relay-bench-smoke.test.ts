/**
 * Keeps the relay benchmark from rotting: a few-second run of the real harness (bundles, pinned
 * server and generator processes, stock-client driver checks, the typing workload at 1 room x 3
 * clients for three systems). No thresholds: it checks only that every system produced a row.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, expect, it } from 'vitest'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
let dir: string | null = null

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = null
})

it('runs the relay benchmark harness end to end (smoke size)', async () => {
  dir = mkdtempSync(join(tmpdir(), 'tandem-bench-smoke-'))
  const out = join(dir, 'relay.json')
  await run(process.execPath, ['--import', 'tsx', 'bench/relay/run.ts', '--smoke', '--out', out], {
    cwd: root,
    timeout: 55_000,
  })
  const rows = JSON.parse(readFileSync(out, 'utf8')) as Array<Record<string, unknown>>
  expect(rows.map((row) => row.system)).toEqual(['tandem-durable', 'tandem-memory', 'raw-relay'])
  for (const row of rows) {
    expect(row.workload).toBe('typing')
    for (const key of [
      'updatesPerSec',
      'p50Ms',
      'p95Ms',
      'p99Ms',
      'cpuPct',
      'cpuUsPerUpdate',
      'rssBytes',
      'generatorCpuPct',
    ]) {
      expect(typeof row[key], key).toBe('number')
    }
    expect(row.delivery).toBeGreaterThan(0)
  }
}, 60_000)
