/**
 * Keeps the relay benchmark from rotting: a few-second run of the real harness (bundles, pinned
 * server and generator processes, stock-client driver checks that every client's shared text
 * converged, then the typing workload and a one-step ramp, 1 room x 3 clients replaying the editing
 * trace, for three systems; then the same for the two systems on PostgreSQL and Redis, which skip
 * with a printed reason outside CI when those are unreachable); then typing at uniform-random
 * positions and the capped ramp (the server in a cgroup with a CPU quota, which needs root and the
 * cgroup v1 cpu controller: without them that part is left out with a printed reason). No
 * thresholds: it checks only that every row was produced, that document and awareness updates were
 * counted apart, and that the capped ramp's cgroups were removed.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { cpuCapUnavailable } from '../bench/relay/cpu-cap.ts'
import { SHARED_TEXT, TRACE_NAME } from '../bench/relay/edit-script.ts'
import { postgresSkipReason } from './helpers/postgres.ts'
import { redisSkipReason } from './helpers/redis.ts'

const root = join(import.meta.dirname, '..')
let dir: string | null = null
const servicesSkip = (await postgresSkipReason()) ?? (await redisSkipReason())
const capSkip = cpuCapUnavailable()

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = null
})

it('edits the text the browser client edits', () => {
  const editor = readFileSync(join(root, 'client/src/editor.ts'), 'utf8')
  expect(editor).toContain(`export const TEXT_NAME = '${SHARED_TEXT}'`)
})

/** Runs the harness; resolves with its pid once it exited without error. */
function runHarness(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/relay/run.ts', ...args],
      { cwd: root, timeout: 150_000 },
      (err) => (err ? reject(err) : resolve(child.pid ?? 0)),
    )
  })
}

/**
 * Runs the smoke-size benchmark for `systems` (null: its default three) and `workloads` (null: its
 * default typing and ramp, in the harness's order) and returns the rows and the harness's pid.
 */
async function smokeRun(
  systems: string[] | null,
  workloads: string[] | null = null,
): Promise<{ rows: Array<Record<string, unknown>>; pid: number }> {
  dir = mkdtempSync(join(tmpdir(), 'tandem-bench-smoke-'))
  const out = join(dir, 'relay.json')
  const only = [
    ...(systems ? ['--systems', systems.join(',')] : []),
    ...(workloads ? ['--workloads', workloads.join(',')] : []),
  ]
  const pid = await runHarness(['--smoke', ...only, '--out', out])
  const results = JSON.parse(readFileSync(out, 'utf8')) as {
    trace: string
    rows: Array<Record<string, unknown>>
  }
  expect(results.trace).toBe(TRACE_NAME)
  const names = systems ?? ['tandem-durable', 'tandem-memory', 'raw-relay']
  expect(results.rows.map((row) => `${row.workload} ${row.system}`)).toEqual(
    (workloads ?? ['typing', 'ramp']).flatMap((workload) => names.map((system) => `${workload} ${system}`)),
  )
  for (const row of results.rows)
    expect(row.positions, `${row.system} ${row.workload}`).toBe(
      String(row.workload).endsWith('-uniform') ? 'uniform' : 'trace',
    )
  // Whether a ramp step held depends on timing; only the typing rows must carry every figure.
  for (const row of results.rows.filter((r) => String(r.workload).startsWith('typing'))) {
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
  for (const row of results.rows.filter((r) => String(r.workload).includes('ramp'))) {
    expect(['server', 'generator', 'machine', 'none']).toContain(row.limit)
    const steps = row.steps as Array<{ updatesPerSec: number; verdict: string }>
    expect(steps.length).toBeGreaterThan(0)
    for (const step of steps) expect(step.updatesPerSec).toBeGreaterThan(0)
  }
  return { rows: results.rows, pid }
}

it('runs the relay benchmark harness end to end (smoke size)', async () => {
  await smokeRun(null)
}, 160_000)

it('runs typing at uniform-random positions and the capped ramp (smoke size)', async () => {
  if (capSkip) console.log(`relay bench smoke: capped-ramp left out: ${capSkip}`)
  const { rows, pid } = await smokeRun(
    ['tandem-durable', 'raw-relay'],
    ['typing-uniform', ...(capSkip ? [] : ['capped-ramp'])],
  )
  for (const row of rows.filter((r) => r.workload === 'capped-ramp')) {
    expect(row.cpuQuotaPct).toBe(25)
    const steps = row.steps as Array<{ throttledPct: unknown }>
    for (const step of steps) expect(typeof step.throttledPct).toBe('number')
  }
  // Every run's cgroup was removed (they are named after the harness's pid).
  if (!capSkip && existsSync('/sys/fs/cgroup/cpu'))
    expect(
      readdirSync('/sys/fs/cgroup/cpu').filter((name) => name.startsWith(`tandem-bench-${pid}-`)),
    ).toEqual([])
}, 160_000)

it.skipIf(servicesSkip)(
  'runs the systems on PostgreSQL and Redis (smoke size)',
  async () => {
    const { rows } = await smokeRun(['tandem-postgres', 'tandem-2x'])
    for (const row of rows.filter((r) => r.workload === 'typing')) {
      // Their own columns are there (a figure, or null where /proc shows no such process).
      expect(row).toHaveProperty('postgresCpuUsPerUpdate')
      expect(row).toHaveProperty('postgresSharedCpuUsPerUpdate')
    }
    const twice = rows.find((r) => r.workload === 'typing' && r.system === 'tandem-2x')
    expect(twice?.instances).toBe(2)
    expect(twice).toHaveProperty('redisCpuUsPerUpdate')
    // Updates crossed to the other instance's members (without fan-out about a third would arrive).
    expect(twice?.delivery).toBeGreaterThan(0.9)
  },
  160_000,
)

it('measures what keeping the document costs per update (bench/relay/apply-cost.ts, smoke size)', async () => {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--expose-gc', 'bench/relay/apply-cost.ts', '--updates', '200', '--repeats', '1'],
      { cwd: root, timeout: 120_000 },
      (err, out) => (err ? reject(err) : resolve(out)),
    )
  })
  const rows = stdout.split('\n').filter((line) => /^\s*(trace|uniform)\s/.test(line))
  expect(rows.map((line) => line.trim().split(/\s+/)[0])).toEqual(['trace', 'uniform'])
  for (const row of rows) {
    const cells = row.trim().split(/\s+/)
    expect(cells[1]).toBe('200')
    for (const cell of cells.slice(3)) expect(Number.isFinite(Number(cell))).toBe(true)
  }
}, 150_000)
