/**
 * `npm run bench:relay [-- --quick | --smoke] [--systems a,b] [--workloads typing,ramp] [--repeats N] [--ramp-repeats N] [--window-seconds S]
 * [--out FILE.json] [--svg FILE.svg] [--rates 5,10,...] [--capped-rates 2,3,...] [--cpu-quota-percent N]
 * [--tandem-ref COMMIT] [--cpu-prof DIR] [--profile-window DIR] [--server-node-arg FLAG]... [--skip-check]`
 *
 * Runs every workload against every system (each run on a fresh server process on its own core,
 * the load generator in another), prints a table of medians, writes the rows as JSON and renders an
 * SVG chart. Workloads: typing, ramp, capped-ramp (the ramp with the server held to
 * --cpu-quota-percent of one core, default 25, by a cgroup: its limit, not the generator's; skipped
 * with the reason where cgroups cannot be made), big-room, idle, cold-load; typing, ramp and
 * capped-ramp have a `-uniform` variant whose clients edit at uniformly random places instead of
 * the trace's (the `positions` column). The systems on PostgreSQL and Redis (tandem-postgres, tandem-2x; ./services.ts) run
 * when those answer, and are left out with the reason when they do not, unless named in --systems. Bounded in time: the full run takes about 35 minutes on a 2-core machine, --quick about
 * 7, --smoke seconds, before the capped ramp, which adds about 4 minutes to --quick for five
 * systems (and each -uniform variant as much as its base).
 *
 * A capped step's p99 turns on a few bursts of server work, each four times as long at 25% of a
 * core: Tandem durable at 60 updates/s failed one quick step (p99 85 ms) and held the next run's
 * (32 ms). Take the capped maxima from --ramp-repeats 3 (the median ramp is kept).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadSequentialTrace, loadYjsTrace } from '../../tests/helpers/traces.ts'
import { buildBundles, describeTandem } from './build.ts'
import { checkDriver } from './check-drivers.ts'
import { cpuCapUnavailable, MIN_QUOTA_PERCENT } from './cpu-cap.ts'
import { editScript, type Positions, TRACE_NAME } from './edit-script.ts'
import { ramp } from './ramp.ts'
import { formatPerSecond, renderSvg, renderTable, servicesCpu } from './report.ts'
import { unreachable } from './services.ts'
import { pinning, SYSTEMS, type SystemSpec } from './systems.ts'
import {
  type Context,
  coldLoad,
  coveringCompaction,
  fmt,
  idle,
  type LoadShape,
  loadColdDocument,
  medianRow,
  quietest,
  type Row,
  steady,
} from './workloads.ts'

const root = join(import.meta.dirname, '../..')
/** The ramp's limit on p99 edit-to-remote latency. */
const P99_LIMIT_MS = 50
/** The capped ramp's server CPU budget by default, in % of one core. */
const CPU_QUOTA_PERCENT = 25

interface Plan {
  repeats: number
  typing: LoadShape
  rampRates: number[]
  /**
   * The capped ramp's rates per writer, on the ramp's shape. At 25% of a core the issue measured
   * about 280 updates/s (y-websocket, Hocuspocus) to 1,420 (raw relay): 4.7 and 24 per writer.
   */
  cappedRampRates: number[]
  rampShape: LoadShape
  bigRoom: LoadShape
  idle: { rooms: number; clientsPerRoom: number }
  idleRepeats: number
  coldRepeats: number
  /** Stretch windows to hold every room's first compaction (full runs; see coveringCompaction). */
  coverCompaction: boolean
}

/**
 * 1,000 document updates/s (+ 400 awareness updates/s) into 20 rooms. Windows of at least 12 s,
 * stretched in full runs until each room's first compaction is in them (20 s at this rate); the
 * durable store's WAL passes its checkpoint size within seconds.
 */
const TYPING: LoadShape = {
  rooms: 20,
  clientsPerRoom: 10,
  editsPerSec: 5,
  awarenessPerSec: 2,
  warmupMs: 3_000,
  measureMs: 12_000,
  graceMs: 2_000,
}

/**
 * The ramp's rooms: 20 rooms of 10, of which 3 type and 7 watch (a document being written by a few
 * while others read along, and a generator that applies each update once per other writer rather
 * than once per member, so that it can drive the servers to their limit). Rates are per writer.
 */
const RAMP: LoadShape = { ...TYPING, writersPerRoom: 3 }

/** One room of 100 clients, each edit relayed to 99 (more would make the generator the limit). */
const BIG_ROOM: LoadShape = {
  rooms: 1,
  clientsPerRoom: 100,
  editsPerSec: 1,
  awarenessPerSec: 0,
  warmupMs: 2_000,
  measureMs: 8_000,
  graceMs: 2_000,
}

/**
 * 60 to 3,000 updates/s on the ramp's 60 writers, rising by about half each step. Low: at 120
 * updates/s each costs a capped server ~1.2 ms of CPU, 6x what it does at the rates of the
 * uncapped ramp, where sends and reads batch. High enough for the raw relay, which held 1,980.
 */
const CAPPED_RAMP_RATES = [1, 2, 3, 4.5, 7, 10, 15, 22, 33, 50]

const PLANS: Record<'full' | 'quick' | 'smoke', Plan> = {
  full: {
    repeats: 3,
    typing: TYPING,
    // 1,500 to 12,000 updates/s; a step that does not hold is followed by one halfway below it.
    rampRates: [25, 50, 75, 100, 150, 200],
    cappedRampRates: CAPPED_RAMP_RATES,
    rampShape: RAMP,
    bigRoom: BIG_ROOM,
    idle: { rooms: 500, clientsPerRoom: 10 },
    idleRepeats: 1,
    coldRepeats: 3,
    coverCompaction: true,
  },
  quick: {
    repeats: 1,
    typing: { ...TYPING, warmupMs: 2_000, measureMs: 6_000 },
    rampRates: [25, 75, 150],
    cappedRampRates: CAPPED_RAMP_RATES,
    rampShape: { ...RAMP, warmupMs: 2_000, measureMs: 6_000 },
    bigRoom: { ...BIG_ROOM, warmupMs: 1_000, measureMs: 4_000, graceMs: 1_500 },
    idle: { rooms: 100, clientsPerRoom: 10 },
    idleRepeats: 1,
    coldRepeats: 1,
    coverCompaction: false,
  },
  smoke: {
    repeats: 1,
    typing: {
      rooms: 1,
      clientsPerRoom: 3,
      editsPerSec: 5,
      awarenessPerSec: 2,
      warmupMs: 300,
      measureMs: 1_200,
      graceMs: 1_000,
    },
    rampRates: [10],
    cappedRampRates: [10],
    rampShape: {
      rooms: 1,
      clientsPerRoom: 3,
      editsPerSec: 10,
      awarenessPerSec: 2,
      warmupMs: 200,
      measureMs: 800,
      graceMs: 1_000,
    },
    bigRoom: TYPING,
    idle: { rooms: 1, clientsPerRoom: 1 },
    idleRepeats: 1,
    coldRepeats: 0,
    coverCompaction: false,
  },
}

const WORKLOADS = [
  'typing',
  'typing-uniform',
  'ramp',
  'ramp-uniform',
  'capped-ramp',
  'capped-ramp-uniform',
  'big-room',
  'idle',
  'cold-load',
] as const
/** What a full or quick run does unless told (the uniform variants are asked for by name). */
const DEFAULT_WORKLOADS = ['typing', 'ramp', 'capped-ramp', 'big-room', 'idle', 'cold-load']
/** A workload's edit positions: its `-uniform` variant edits at uniformly random places. */
const positionsOf = (workload: string): Positions => (workload.endsWith('-uniform') ? 'uniform' : 'trace')
/** Systems in the steady workloads (the LevelDB variant only matters for cold load). */
const LIVE_SYSTEMS = SYSTEMS.filter((s) => s.name !== 'y-websocket-1.5.4-leveldb')
const COLD_SYSTEMS = ['tandem-durable', 'hocuspocus-sqlite', 'y-websocket-1.5.4-leveldb']
const SMOKE_SYSTEMS = ['tandem-durable', 'tandem-memory', 'raw-relay']

function versionOf(name: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'))
  return pkg.version
}

/** Machine and versions, for the chart caption and the printed header. */
export function describeEnvironment(pinned: boolean): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  return (
    `${cpus().length}x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.versions.node}, ` +
    `${pinned ? 'server and generator pinned to separate cores' : 'no CPU pinning'}; yjs ${versionOf('yjs')}, ` +
    `y-websocket ${versionOf('y-websocket-154')}, @y/websocket-server ${versionOf('@y/websocket-server')}, ` +
    `@hocuspocus/server ${versionOf('@hocuspocus/server')}, ws ${versionOf('ws')}`
  )
}

/** A ramp's runs: the run with the median maximum (its other figures unchanged), naming every run's. */
function medianRun(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => (a.updatesPerSec ?? 0) - (b.updatesPerSec ?? 0))
  const runs = sorted
    .map((r) => `${fmt(r.updatesPerSec, 0)} (${r.limit === 'none' ? 'every step held' : `${r.limit} limit`})`)
    .join(', ')
  const middle = sorted[(sorted.length - 1) >> 1]
  return { ...middle, runs: rows.length, note: `${middle.note ?? ''}; maxima of the runs: ${runs}` }
}

/** One line per run for the progress log. */
function summarize(row: Row): string {
  if (row.bytesPerConnection != null) return `${(row.bytesPerConnection / 1024).toFixed(1)} KB per connection`
  if (row.steps !== undefined)
    return `maximum ${fmt(row.updatesPerSec, 0)} doc upd/s (${row.limit} limit): ${row.note ?? ''}`
  return (
    `${fmt(row.updatesPerSec, 0)} doc upd/s + ${fmt(row.awarenessPerSec, 0)} awareness/s, ` +
    `${fmt(row.cpuUsPerUpdate, 1)} µs/doc upd${servicesCpu(row)}, p50 ${fmt(row.p50Ms, 2)} ms, p99 ${fmt(row.p99Ms, 1)} ms, ` +
    `loop max ${fmt(row.loopDelayMaxMs, 0)} ms, generator ${fmt(row.generatorCpuPct, 0)}%` +
    `${row.generatorBound ? ' (generator-bound)' : ''}, others ${fmt(row.otherLoadPct, 0)}%, ` +
    `text ${fmt(row.textLength, 0)} chars\n      per second (ms): server loop max ${formatPerSecond(row.loopDelayMaxPerSecondMs)}` +
    `\n                       edit p99 ${formatPerSecond(row.p99PerSecondMs)}`
  )
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      smoke: { type: 'boolean' },
      systems: { type: 'string' },
      workloads: { type: 'string' },
      repeats: { type: 'string' },
      'ramp-repeats': { type: 'string' },
      'window-seconds': { type: 'string' },
      out: { type: 'string' },
      svg: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'skip-check': { type: 'boolean' },
      'tandem-ref': { type: 'string' },
      'profile-window': { type: 'string' },
      rates: { type: 'string' },
      'capped-rates': { type: 'string' },
      'cpu-quota-percent': { type: 'string' },
      'server-node-arg': { type: 'string', multiple: true },
    },
  })
  const mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'
  const windowSeconds = values['window-seconds'] ? Number(values['window-seconds']) : null
  if (windowSeconds !== null && !(windowSeconds > 0 && windowSeconds <= 600))
    throw new Error('--window-seconds must be in 1..600')
  const base = PLANS[mode]
  // A longer measured window for typing and the ramp (e.g. a 60 s stall check at one ramp rate).
  const plan: Plan =
    windowSeconds === null
      ? base
      : {
          ...base,
          typing: { ...base.typing, measureMs: windowSeconds * 1000 },
          rampShape: { ...base.rampShape, measureMs: windowSeconds * 1000 },
        }
  const repeats = values.repeats ? Number(values.repeats) : plan.repeats
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 10) throw new Error('--repeats must be 1..10')
  const rampRepeats = values['ramp-repeats'] ? Number(values['ramp-repeats']) : 1
  if (!Number.isInteger(rampRepeats) || rampRepeats < 1 || rampRepeats > 10)
    throw new Error('--ramp-repeats must be 1..10')
  const workloads = values.workloads
    ? values.workloads.split(',')
    : mode === 'smoke'
      ? ['typing', 'ramp']
      : DEFAULT_WORKLOADS
  for (const w of workloads)
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`unknown workload ${w}`)
  const wanted = values.systems?.split(',') ?? (mode === 'smoke' ? SMOKE_SYSTEMS : null)
  for (const name of wanted ?? [])
    if (!SYSTEMS.some((s) => s.name === name)) throw new Error(`unknown system ${name}`)
  const pick = (list: SystemSpec[]): SystemSpec[] =>
    wanted ? list.filter((s) => wanted.includes(s.name)) : list
  const out = values.out ?? (mode === 'full' ? join(root, 'bench/results/relay.json') : null)
  const svgOut = values.svg ?? (out ? out.replace(/\.json$/, '.svg') : null)

  const window = (shape: LoadShape): LoadShape => (plan.coverCompaction ? coveringCompaction(shape) : shape)
  const rates = (flag: string, given: string | undefined, planned: number[]): number[] => {
    const list = given ? given.split(',').map(Number) : planned
    if (list.some((r) => !Number.isFinite(r) || r <= 0 || r > 1000))
      throw new Error(`${flag}: numbers in 1..1000`)
    return list
  }
  const rampRates = rates('--rates', values.rates, plan.rampRates)
  const cappedRampRates = rates('--capped-rates', values['capped-rates'], plan.cappedRampRates)
  const cpuQuotaPercent = values['cpu-quota-percent']
    ? Number(values['cpu-quota-percent'])
    : CPU_QUOTA_PERCENT
  if (!(cpuQuotaPercent >= MIN_QUOTA_PERCENT && cpuQuotaPercent <= 100))
    throw new Error(`--cpu-quota-percent must be in ${MIN_QUOTA_PERCENT}..100`)
  const pin = pinning()
  const paths = await buildBundles(values['tandem-ref'] ?? null)
  process.once('exit', () => rmSync(paths.dir, { recursive: true, force: true }))
  const ctx: Context = {
    paths,
    pin,
    script: editScript(TRACE_NAME, loadSequentialTrace(TRACE_NAME)),
    log: (line) => process.stdout.write(`${line}\n`),
    serverNodeArgs: [
      ...(values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : []),
      ...(values['server-node-arg'] ?? []),
    ],
    profileDir: values['profile-window'] ?? null,
    avoidBusyMachine: mode !== 'smoke',
  }
  const environment = describeEnvironment(pin !== null)
  const tandem = describeTandem(values['tandem-ref'] ?? null)
  ctx.log(`relay benchmark (${mode}): ${environment}; ${tandem}; trace ${TRACE_NAME}`)
  const started = Date.now()
  const rows: Row[] = []
  const live: SystemSpec[] = []
  for (const spec of pick(LIVE_SYSTEMS)) {
    const missing = spec.services?.length ? await unreachable(spec.services) : null
    if (!missing) live.push(spec)
    else if (wanted) throw new Error(`${spec.name} cannot run: ${missing}`)
    else ctx.log(`  leaving out ${spec.name}: ${missing}`)
  }
  if (!values['skip-check']) {
    for (const spec of live) {
      const seen = await checkDriver(ctx, spec)
      ctx.log(
        `  driver check ${spec.name}: the stock client's text equals the generator clients' (${seen} chars)`,
      )
    }
  }

  const repeated = async (
    workload: string,
    run: (spec: SystemSpec) => Promise<Row>,
    times = repeats,
    combine: (rows: Row[]) => Row = medianRow,
  ): Promise<void> => {
    const runs = new Map<string, Row[]>()
    // Repeats go round the systems, so a noisy moment on the machine hits one run of each, not all runs of one.
    for (let i = 0; i < times; i++) {
      for (const spec of live) {
        ctx.log(`  ${workload} ${spec.name} (run ${i + 1}/${times})`)
        const row = await run(spec)
        ctx.log(`    ${summarize(row)}`)
        runs.set(spec.name, [...(runs.get(spec.name) ?? []), row])
      }
    }
    for (const spec of live) rows.push(combine(runs.get(spec.name) ?? []))
  }

  // Another job on the machine skews a run: quietest() retries it (bounded), keeping the quieter attempt.
  for (const workload of ['typing', 'typing-uniform'].filter((w) => workloads.includes(w))) {
    const options = { positions: positionsOf(workload) }
    await repeated(workload, (spec) =>
      quietest(ctx, () => steady(ctx, spec, workload, window(plan.typing), options)),
    )
  }
  const capUnavailable = workloads.some((w) => w.startsWith('capped-')) ? cpuCapUnavailable() : null
  for (const workload of ['ramp', 'ramp-uniform', 'capped-ramp', 'capped-ramp-uniform']) {
    if (!workloads.includes(workload)) continue
    const capped = workload.startsWith('capped-')
    if (capped && capUnavailable) {
      ctx.log(`  skipping ${workload}: ${capUnavailable}`)
      continue
    }
    // A ramp's steps belong together: keep the whole run whose maximum is the median one (each
    // step is retried on a busy machine inside ramp()).
    // The capped ramp's cursors move at the ramp's rate scaled by the budget (a quarter at 25%): at
    // a quarter of a core the ramp's 400 moves/s alone took a fifth (Tandem) to a third
    // (y-websocket) of the budget, and all of Hocuspocus's (p99 1.7 s at 30 updates/s).
    const shape = capped
      ? { ...plan.rampShape, awarenessPerSec: (plan.rampShape.awarenessPerSec * cpuQuotaPercent) / 100 }
      : plan.rampShape
    const rampPlan = {
      workload,
      positions: positionsOf(workload),
      cpuQuotaPct: capped ? cpuQuotaPercent : null,
      shape,
      rates: capped ? cappedRampRates : rampRates,
      p99LimitMs: P99_LIMIT_MS,
      coverCompaction: plan.coverCompaction,
    }
    // One ramp per system unless asked (--ramp-repeats): with the generator on one core, every
    // system's uncapped ramp so far ended at the generator's limit, and each ramp takes minutes.
    await repeated(workload, (spec) => ramp(ctx, spec, rampPlan), rampRepeats, medianRun)
  }
  if (workloads.includes('big-room'))
    // Not one of the issue's targets: one run per system keeps the whole benchmark within bounds.
    await repeated(
      'big-room',
      (spec) => quietest(ctx, () => steady(ctx, spec, 'big-room', window(plan.bigRoom))),
      1,
    )
  if (workloads.includes('idle')) {
    // Memory per connection varies little from run to run.
    await repeated(
      'idle',
      (spec) => idle(ctx, spec, plan.idle.rooms, plan.idle.clientsPerRoom),
      plan.idleRepeats,
    )
  }
  if (workloads.includes('cold-load') && plan.coldRepeats > 0) {
    const document = loadColdDocument(loadYjsTrace('S1'))
    for (const spec of pick(SYSTEMS.filter((s) => COLD_SYSTEMS.includes(s.name)))) {
      ctx.log(`  cold-load ${spec.name}`)
      rows.push(medianRow(await coldLoad(ctx, spec, document, plan.coldRepeats)))
    }
  }

  const seconds = Math.round((Date.now() - started) / 1000)
  ctx.log(`\n${renderTable(rows)}\n\n(${seconds} s; medians; ! = generator-bound)`)
  if (out) {
    mkdirSync(dirname(out), { recursive: true })
    const results = { mode, environment, tandem, trace: TRACE_NAME, seconds, rows }
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
    ctx.log(`wrote ${out}`)
  }
  if (svgOut) {
    writeFileSync(svgOut, renderSvg(rows, `${environment.split(';')[0]}; ${tandem}`))
    ctx.log(`wrote ${svgOut}`)
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:relay failed: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  },
)
