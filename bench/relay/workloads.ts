/**
 * The workloads, each bounded in time: typing, big room, idle and cold load (the ramp, built from
 * typing runs, is in ./ramp.ts). Each run starts a fresh server process (on its core) and a fresh
 * generator (on the other) and returns a result row; the server's CPU time and event-loop delay are
 * read from its probe at the start and end of the generator's measured window (summed over the
 * instances of a system that runs several), and the CPU time of the PostgreSQL and Redis processes
 * a system runs on from /proc over the same window (./service-cpu.ts). A steady run may cap the
 * server's CPU (./cpu-cap.ts) from the end of its untimed seeding on, warm-up and window included.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import { CpuCap } from './cpu-cap.ts'
import type { EditScript, Positions } from './edit-script.ts'
import type { RunResult } from './generator.ts'
import { GeneratorProcess } from './generator-process.ts'
import type { ProbeSample } from './probe.ts'
import { type ServiceCpu, ServiceCpuMeter } from './service-cpu.ts'
import {
  type BuildPaths,
  type Pinning,
  type RunningSystem,
  type SystemSpec,
  serverPlacement,
  startSystem,
} from './systems.ts'

/**
 * One result row; the first ten fields are the schema, the rest are context. "Updates" are
 * document updates only: awareness updates flow alongside and are counted apart.
 */
export interface Row {
  system: string
  workload: string
  /** Document updates per second sent into the server (the ramp: the highest rate that held). */
  updatesPerSec: number | null
  /** Edit-to-remote latency of the document updates that inserted text (send to every other member). */
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  /** Server CPU (% of one core): every server process of the system, summed. */
  cpuPct: number | null
  /**
   * Server CPU per document update: every server process of the system (both instances of
   * tandem-2x), not the PostgreSQL or Redis processes (the next fields); the CPU spent on the
   * awareness traffic is in it.
   */
  cpuUsPerUpdate: number | null
  /** RSS of the server processes, summed. */
  rssBytes: number | null
  generatorCpuPct: number | null
  /** Awareness updates per second sent into the server. */
  awarenessPerSec?: number | null
  /** Where the clients edited (typing, ramps): the trace's positions or uniformly random ones. */
  positions?: Positions
  /** The server's CPU budget, in % of one core (capped ramps only; ./cpu-cap.ts). */
  cpuQuotaPct?: number
  /** Share of the CFS periods (warm-up and window) in which the cap held the server back, in %. */
  throttledPct?: number | null
  /** Server processes the system ran as (absent: one). */
  instances?: number
  /**
   * CPU per document update of the PostgreSQL backends serving this run's own database (systems
   * on PostgreSQL only; ./service-cpu.ts).
   */
  postgresCpuUsPerUpdate?: number | null
  /** The same for PostgreSQL's shared processes (checkpointer, WAL writer...): machine-wide. */
  postgresSharedCpuUsPerUpdate?: number | null
  /** The same for the redis-server process (systems on Redis only): machine-wide. */
  redisCpuUsPerUpdate?: number | null
  /** The kernel's share of the server's CPU time (%): socket syscalls and loopback TCP. */
  kernelSharePct?: number | null
  /** Marker deliveries seen / expected. */
  delivery?: number | null
  loopDelayP99Ms?: number | null
  /** The server's longest event-loop delay in the measured window (its worst stall). */
  loopDelayMaxMs?: number | null
  /** The server's longest event-loop delay in each second of the window (one run). */
  loopDelayMaxPerSecondMs?: number[]
  /** p99 edit-to-remote latency of the edits sent in each second of the window (one run). */
  p99PerSecondMs?: number[]
  /** Medians only: each run's loopDelayMaxMs. */
  loopDelayMaxMsRuns?: number[]
  /** The generator's event-loop delay: a busy generator reads replies late and inflates latencies. */
  generatorLoopP99Ms?: number | null
  /** The kernel's share of the generator's CPU time (%). */
  generatorKernelSharePct?: number | null
  /** Document updates sent / the requested rate's (below 1: the generator could not keep up). */
  sendRatio?: number | null
  /** Median length of a room's shared text at the end of the run, in characters. */
  textLength?: number | null
  /** Idle: server memory per connection (RSS growth after GC / connections). */
  bytesPerConnection?: number | null
  /** Cold load: time until a new client holds the whole stored document. */
  coldLoadMs?: number | null
  /**
   * CPU used on the machine by everything but the server and the generator during the window, in %
   * of one core (from /proc/stat): other work on a shared machine skews a run.
   */
  otherLoadPct?: number | null
  /** How many runs the medians are taken over. */
  runs: number
  /**
   * True if the generator, not the server, may be what limits the figure: its CPU was at or over
   * GENERATOR_BUSY_PCT of its core, or it sent fewer updates than asked (in any run). For the ramp:
   * the first step that did not hold was generator-bound.
   */
  generatorBound: boolean
  /** Ramp only: what stopped it (see ./ramp.ts). */
  limit?: 'server' | 'generator' | 'machine' | 'none'
  /** Ramp only: every step of the run. */
  steps?: RampStep[]
  note?: string
}

/** One step of a ramp, as kept in the results. */
export interface RampStep {
  editsPerClient: number
  updatesPerSec: number | null
  p99Ms: number | null
  delivery: number | null
  cpuPct: number | null
  cpuUsPerUpdate: number | null
  loopDelayMaxMs: number | null
  loopDelayMaxPerSecondMs: number[]
  p99PerSecondMs: number[]
  generatorCpuPct: number | null
  sendRatio: number | null
  otherLoadPct: number | null
  /** As in Row, for the systems on PostgreSQL or Redis. */
  postgresCpuUsPerUpdate?: number | null
  postgresSharedCpuUsPerUpdate?: number | null
  redisCpuUsPerUpdate?: number | null
  /** Capped ramps: as in Row. */
  throttledPct?: number | null
  verdict: 'held' | 'failed' | 'generator-bound' | 'machine-busy'
}

export interface Context {
  paths: BuildPaths
  pin: Pinning | null
  /** The edits every generator client replays (./edit-script.ts). */
  script: EditScript
  log: (line: string) => void
  /** Extra node flags for the servers (e.g. --cpu-prof). */
  serverNodeArgs: string[]
  /** Directory for CPU profiles of each measured window (null: no profiling). */
  profileDir: string | null
  /**
   * Wait for a quiet machine before each run and retry runs that other processes made busy. Off
   * for the smoke run, which shares the machine with the rest of the test suite by design.
   */
  avoidBusyMachine: boolean
}

/** Tandem compacts a room's update log every this many updates (its default `compactAfterUpdates`). */
const COMPACTION_UPDATES = 1_000

/**
 * Edits typed into room `index` of `rooms` before a run (./generator.ts `seed`): 0, 1/n, 2/n ...
 * of a compaction's worth. On a fresh server every room would otherwise reach its 1,000th update,
 * and compact, at the same moment; seeded, they compact one after another, evenly spread, as the
 * rooms of a long-running server do.
 */
export function seedEdits(index: number, rooms: number): number {
  return Math.floor((index * COMPACTION_UPDATES) / rooms)
}

export interface LoadShape {
  rooms: number
  clientsPerRoom: number
  /**
   * Members of each room that edit; the others watch (receive everything, move their cursors, do
   * not edit). Default: every member edits.
   */
  writersPerRoom?: number
  /** Document updates per second per editing client. */
  editsPerSec: number
  /** Cursor moves (awareness updates) per second per client. */
  awarenessPerSec: number
  warmupMs: number
  measureMs: number
  graceMs: number
}

/** A generator at or over this share of its core (%) may be the limit, not the server. */
export const GENERATOR_BUSY_PCT = 90
/** A generator that sent less than this share of the requested updates could not keep up. */
const GENERATOR_MIN_SEND_RATIO = 0.97
/** Other processes using more than this (% of one core) make a machine busy: wait before a run, retry after one. */
export const BUSY_MACHINE_PCT = 25
/** Longest wait for a quiet machine before a run starts anyway. */
const QUIET_WAIT_MS = 120_000

async function withSystem<T>(
  ctx: Context,
  spec: SystemSpec,
  dataDir: string | null,
  body: (system: RunningSystem, generator: GeneratorProcess) => Promise<T>,
): Promise<T> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'tandem-bench-'))
  const system = await startSystem(spec, dir, ctx.paths, ctx.pin, ctx.serverNodeArgs)
  const generator = new GeneratorProcess(
    ctx.paths.generator,
    serverPlacement(ctx.pin, spec.instances ?? 1)?.generator ?? null,
  )
  try {
    return await body(system, generator)
  } finally {
    await generator.close()
    await system.stop()
    if (!dataDir) rmSync(dir, { recursive: true, force: true })
    // A server that logged warnings (closed connections, failed stores) must not go unnoticed.
    const stderr = system.stderr.trim()
    if (stderr) ctx.log(`    ${spec.name} stderr: ${stderr.slice(0, 600).replace(/\n/g, '\n    ')}`)
    const stalls = system.stalls.trim()
    if (stalls) ctx.log(`    ${spec.name} stalls: ${stalls.slice(0, 4000).replace(/\n/g, '\n    ')}`)
  }
}

/** Opens and syncs `clientsPerRoom` generator clients in each of `rooms` rooms named `<prefix>-<i>`. */
function connectRooms(
  ctx: Context,
  system: RunningSystem,
  generator: GeneratorProcess,
  prefix: string,
  rooms: number,
  clientsPerRoom: number,
  presence: boolean,
  writersPerRoom?: number,
  positions: Positions = 'trace',
): Promise<{ type: string; ms: number; clients: number }> {
  return generator.request(
    {
      cmd: 'connect',
      bases: system.bases,
      dialect: system.spec.dialect,
      rooms: Array.from({ length: rooms }, (_, i) => `${prefix}-${i}`),
      clientsPerRoom,
      writersPerRoom,
      presence,
      serverSyncs: system.spec.serverSyncs,
      script: ctx.script,
      positions,
    },
    'connected',
    300_000,
  )
}

interface Measured {
  result: RunResult
  cpuUs: number
  systemUs: number
  end: ProbeSample
  machineBusyMs: number | null
  services: ServiceCpu
}

/** CPU time used by the whole machine so far (ms, all cores), or null without /proc/stat. */
function machineBusyMs(): number | null {
  if (!existsSync('/proc/stat')) return null
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait; USER_HZ is 100.
  const [user, nice, system, , , irq, softirq, steal] = fields
  return (user + nice + system + irq + softirq + (steal ?? 0)) * 10
}

/** Runs one paced window and samples the server's probe at its start and end. */
async function measure(
  system: RunningSystem,
  generator: GeneratorProcess,
  shape: LoadShape,
  profileDir: string | null = null,
): Promise<Measured> {
  const samples: Promise<ProbeSample>[] = []
  const busy: Array<number | null> = []
  const services = new ServiceCpuMeter(
    system.services?.database ?? null,
    system.services?.redisPrefix !== null && system.services?.redisPrefix !== undefined,
  )
  let serviceCpu: ServiceCpu | null = null
  const profile = profileDir
    ? join(profileDir, `${system.spec.name.replace(/\W+/g, '_')}-${Date.now()}.cpuprofile`)
    : null
  const result = await generator.request<RunResult>(
    {
      cmd: 'run',
      editsPerSec: shape.editsPerSec,
      awarenessPerSec: shape.awarenessPerSec,
      warmupMs: shape.warmupMs,
      measureMs: shape.measureMs,
      graceMs: shape.graceMs,
    },
    'result',
    shape.warmupMs + shape.measureMs + shape.graceMs + 30_000,
    (phase) => {
      busy.push(machineBusyMs())
      samples.push(system.sample({ reset: phase === 'start' }))
      if (phase === 'start') services.start()
      else serviceCpu = services.stop()
      if (profile) system.profile(phase === 'start' ? null : profile)
    },
  )
  if (samples.length !== 2) throw new Error(`${system.spec.name}: window was not marked`)
  const [start, end] = await Promise.all(samples)
  const machine = busy[0] !== null && busy[1] !== null ? (busy[1] as number) - (busy[0] as number) : null
  return {
    result,
    cpuUs: end.cpuUs - start.cpuUs,
    systemUs: end.systemUs - start.systemUs,
    end,
    machineBusyMs: machine,
    services: serviceCpu ?? services.stop(),
  }
}

function rowFrom(system: RunningSystem, workload: string, m: Measured): Row {
  const spec = system.spec
  const r = m.result
  const seconds = r.windowMs / 1000
  const sendRatio = r.requestedEdits > 0 ? r.edits / r.requestedEdits : null
  const notes = [
    ...(system.placement ? [system.placement] : []),
    ...(r.closedClients > 0 ? [`${r.closedClients} client sockets were closed`] : []),
    ...(r.skipped > 0 ? [`the generator skipped ${r.skipped} sends`] : []),
  ]
  const { postgresUs, postgresSharedUs, redisUs } = m.services
  const perUpdate = (us: number | null): number | null => (us === null || r.edits === 0 ? null : us / r.edits)
  // The services' CPU is the run's own work, not other load on the machine.
  const servicesMs = ((postgresUs ?? 0) + (postgresSharedUs ?? 0) + (redisUs ?? 0)) / 1000
  return {
    system: spec.name,
    workload,
    updatesPerSec: r.edits / seconds,
    p50Ms: r.p50Ms,
    p95Ms: r.p95Ms,
    p99Ms: r.p99Ms,
    cpuPct: (m.cpuUs / 1000 / r.windowMs) * 100,
    cpuUsPerUpdate: r.edits > 0 ? m.cpuUs / r.edits : null,
    rssBytes: m.end.rssBytes,
    generatorCpuPct: r.generatorCpuPct,
    awarenessPerSec: r.awareness / seconds,
    ...(system.processes.length > 1 ? { instances: system.processes.length } : {}),
    ...(spec.services?.includes('postgres')
      ? {
          postgresCpuUsPerUpdate: perUpdate(postgresUs),
          postgresSharedCpuUsPerUpdate: perUpdate(postgresSharedUs),
        }
      : {}),
    ...(spec.services?.includes('redis') ? { redisCpuUsPerUpdate: perUpdate(redisUs) } : {}),
    kernelSharePct: m.cpuUs > 0 ? (m.systemUs / m.cpuUs) * 100 : null,
    delivery: r.expected > 0 ? r.delivered / r.expected : null,
    loopDelayP99Ms: m.end.loopDelayP99Ms,
    loopDelayMaxMs: m.end.loopDelayMaxMs,
    loopDelayMaxPerSecondMs: m.end.loopDelayMaxPerSecondMs.map((ms) => Math.round(ms * 10) / 10),
    p99PerSecondMs: r.p99PerSecondMs,
    generatorLoopP99Ms: r.generatorLoopP99Ms,
    generatorKernelSharePct: r.generatorKernelSharePct,
    sendRatio,
    textLength: r.textLength,
    otherLoadPct:
      m.machineBusyMs === null
        ? null
        : Math.max(
            0,
            ((m.machineBusyMs - m.cpuUs / 1000 - servicesMs - (r.generatorCpuPct / 100) * r.windowMs) /
              r.windowMs) *
              100,
          ),
    runs: 1,
    generatorBound:
      r.generatorCpuPct >= GENERATOR_BUSY_PCT ||
      // At a rate of a few edits per writer in the window, a writer's count is one off by phase alone.
      (sendRatio !== null && sendRatio < GENERATOR_MIN_SEND_RATIO && r.requestedEdits - r.edits > r.writers),
    ...(notes.length ? { note: notes.join('; ') } : {}),
  }
}

/**
 * Runs `attempt` and, while other processes used more than BUSY_MACHINE_PCT of a core during its
 * window, again (at most `retries` times); keeps the quietest attempt.
 */
export async function quietest(ctx: Context, attempt: () => Promise<Row>, retries = 1): Promise<Row> {
  let row = await attempt()
  if (!ctx.avoidBusyMachine) return row
  for (let retry = 0; retry < retries && (row.otherLoadPct ?? 0) > BUSY_MACHINE_PCT; retry++) {
    ctx.log(`    machine busy (${row.otherLoadPct?.toFixed(0)}% of a core used by others); retrying`)
    const again = await attempt()
    if ((again.otherLoadPct ?? 0) < (row.otherLoadPct ?? 0)) row = again
  }
  return row
}

/**
 * Waits until other processes use at most BUSY_MACHINE_PCT of a core (measured over a second, with
 * nothing of the benchmark's running), for at most QUIET_WAIT_MS; then the run starts regardless.
 */
async function waitForQuiet(ctx: Context): Promise<void> {
  if (!ctx.avoidBusyMachine) return
  const deadline = Date.now() + QUIET_WAIT_MS
  let logged = false
  for (;;) {
    const before = machineBusyMs()
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const after = machineBusyMs()
    if (before === null || after === null) return
    const busyPct = ((after - before) / (performance.now() - started)) * 100
    if (busyPct <= BUSY_MACHINE_PCT) return
    if (Date.now() > deadline) {
      ctx.log(
        `    machine still busy (${busyPct.toFixed(0)}% of a core) after ${QUIET_WAIT_MS / 1000} s; running`,
      )
      return
    }
    if (!logged) ctx.log(`    waiting for a quiet machine (${busyPct.toFixed(0)}% of a core busy)`)
    logged = true
  }
}

/**
 * `shape` with its measured window stretched (if need be) to end at least 3 s after the first
 * room's 1,000th update, so that every window holds a compaction in Tandem (with one room, which
 * no seeding spreads, the first comes only after 1,000 / its rate seconds).
 */
export function coveringCompaction(shape: LoadShape): LoadShape {
  const roomRate = shape.editsPerSec * (shape.writersPerRoom ?? shape.clientsPerRoom)
  const firstCompactionMs = ((COMPACTION_UPDATES - seedEdits(shape.rooms - 1, shape.rooms)) / roomRate) * 1000
  return {
    ...shape,
    measureMs: Math.max(shape.measureMs, Math.ceil(firstCompactionMs - shape.warmupMs + 3_000)),
  }
}

export interface SteadyOptions {
  /** Where the clients edit (default: the trace's positions). */
  positions?: Positions
  /** Cap the server at this % of one core after seeding (./cpu-cap.ts; default: no cap). */
  cpuQuotaPct?: number | null
}

/** Steady load (typing, big room, one ramp step) on a fresh server and generator: one row. */
export async function steady(
  ctx: Context,
  spec: SystemSpec,
  workload: string,
  shape: LoadShape,
  options: SteadyOptions = {},
): Promise<Row> {
  await waitForQuiet(ctx)
  const positions = options.positions ?? 'trace'
  return withSystem(ctx, spec, null, async (system, generator) => {
    await connectRooms(
      ctx,
      system,
      generator,
      workload,
      shape.rooms,
      shape.clientsPerRoom,
      shape.awarenessPerSec > 0,
      shape.writersPerRoom,
      positions,
    )
    await generator.request(
      { cmd: 'seed', editsPerRoom: Array.from({ length: shape.rooms }, (_, i) => seedEdits(i, shape.rooms)) },
      'seeded',
      90_000,
    )
    if (!options.cpuQuotaPct) {
      const row = rowFrom(system, workload, await measure(system, generator, shape, ctx.profileDir))
      return { ...row, positions }
    }
    // Seeding types the rooms' history at full speed; capped, it alone would take minutes a step.
    // Its garbage is collected before the cap too: at a quarter of a core that collection alone
    // stalls the loop for 100 ms or more, in the warm-up or the window.
    await system.sample({ gc: true })
    const cap = CpuCap.create(options.cpuQuotaPct)
    try {
      cap.confine(system.processes.map((p) => p.child.pid).filter((pid): pid is number => pid !== undefined))
      const before = cap.throttling()
      const row = rowFrom(system, workload, await measure(system, generator, shape, ctx.profileDir))
      const after = cap.throttling()
      const periods = after.periods - before.periods
      const throttledPct =
        periods > 0 ? ((after.throttledPeriods - before.throttledPeriods) / periods) * 100 : null
      return { ...row, positions, cpuQuotaPct: options.cpuQuotaPct, throttledPct }
    } finally {
      // The server is stopped after this body (withSystem): hand its processes back to the root first.
      cap.remove()
    }
  })
}

/** Connects `rooms x clientsPerRoom` synced, present clients and reports server memory per connection. */
export async function idle(
  ctx: Context,
  spec: SystemSpec,
  rooms: number,
  clientsPerRoom: number,
): Promise<Row> {
  await waitForQuiet(ctx)
  return withSystem(ctx, spec, null, async (system, generator) => {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const before = await system.sample({ gc: true })
    const connected = await connectRooms(ctx, system, generator, 'idle', rooms, clientsPerRoom, true)
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const after = await system.sample({ gc: true })
    return {
      system: spec.name,
      workload: 'idle',
      updatesPerSec: null,
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      cpuPct: null,
      cpuUsPerUpdate: null,
      rssBytes: after.rssBytes,
      generatorCpuPct: null,
      bytesPerConnection: (after.rssBytes - before.rssBytes) / connected.clients,
      runs: 1,
      generatorBound: false,
      note: `${connected.clients} connections in ${(connected.ms / 1000).toFixed(1)} s`,
    }
  })
}

/** The cold-load document from a V2 update (S1 of tests/fixtures/traces), as a V1 update, and its length. */
export function loadColdDocument(updateV2: Uint8Array): { update: Uint8Array; length: number } {
  const doc = new Y.Doc()
  Y.applyUpdateV2(doc, updateV2)
  return { update: Y.encodeStateAsUpdate(doc), length: doc.getText('text').length }
}

/**
 * Stores the document in `spec`'s persistence (push, then stop the server), then `repeats` times
 * restarts it and times how long a new client takes to hold the whole document.
 */
export async function coldLoad(
  ctx: Context,
  spec: SystemSpec,
  document: { update: Uint8Array; length: number },
  repeats: number,
): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-cold-'))
  const room = 'cold-s1'
  try {
    await withSystem(ctx, spec, dir, async (system, generator) => {
      await generator.request(
        { cmd: 'populate', base: system.base, dialect: spec.dialect, room, update: document.update },
        'populated',
        60_000,
      )
    })
    const rows: Row[] = []
    for (let i = 0; i < repeats; i++) {
      rows.push(
        await withSystem(ctx, spec, dir, async (system, generator) => {
          const loaded = await generator.request<{ type: string; ms: number }>(
            {
              cmd: 'coldLoad',
              base: system.base,
              dialect: spec.dialect,
              room,
              expectedLength: document.length,
              timeoutMs: 60_000,
            },
            'loaded',
            70_000,
          )
          const sample = await system.sample()
          return {
            system: spec.name,
            workload: 'cold-load',
            updatesPerSec: null,
            p50Ms: loaded.ms,
            p95Ms: null,
            p99Ms: null,
            cpuPct: null,
            cpuUsPerUpdate: null,
            rssBytes: sample.rssBytes,
            generatorCpuPct: null,
            coldLoadMs: loaded.ms,
            runs: 1,
            generatorBound: false,
          }
        }),
      )
    }
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Median of each numeric field over rows of one system and workload; each run's worst stall is
 * kept (loopDelayMaxMsRuns), its per-second detail is not.
 */
export function medianRow(rows: Row[]): Row {
  const first = rows[0]
  const out: Row = { ...first, runs: rows.length, generatorBound: rows.some((r) => r.generatorBound) }
  delete out.loopDelayMaxPerSecondMs
  delete out.p99PerSecondMs
  if (rows.some((r) => typeof r.loopDelayMaxMs === 'number'))
    out.loopDelayMaxMsRuns = rows.map((r) => Math.round((r.loopDelayMaxMs ?? Number.NaN) * 10) / 10)
  const notes = [...new Set(rows.map((r) => r.note).filter((n): n is string => !!n))]
  if (notes.length) out.note = notes.join('; ')
  for (const key of Object.keys(first) as (keyof Row)[]) {
    if (typeof first[key] !== 'number' || key === 'runs') continue
    const values = rows
      .map((r) => r[key])
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
    ;(out as unknown as Record<string, number | null>)[key] = values.length ? median(values) : null
  }
  return out
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function fmt(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits)
}
