/**
 * The workloads, each bounded in time: typing, ramp, big room, idle and cold load. Each runs one
 * system at a time (server on its core, generator on the other) and returns result rows; the
 * server's CPU time is read from its probe at the start and end of the generator's measured window.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import type { RunResult } from './generator.ts'
import { GeneratorProcess } from './generator-process.ts'
import type { ProbeSample } from './probe.ts'
import { type BuildPaths, type RunningSystem, type SystemSpec, startSystem } from './systems.ts'

/** One result row; the first ten fields are the schema, the rest are context. */
export interface Row {
  system: string
  workload: string
  updatesPerSec: number | null
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  cpuPct: number | null
  cpuUsPerUpdate: number | null
  rssBytes: number | null
  generatorCpuPct: number | null
  /** Document updates per second (updatesPerSec also counts awareness updates). */
  editsPerSec?: number | null
  /** The kernel's share of the server's CPU time (%): socket syscalls and loopback TCP. */
  kernelSharePct?: number | null
  /** Marker deliveries seen / expected. */
  delivery?: number | null
  loopDelayP99Ms?: number | null
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
  /** True if the generator was over 90% busy in any run (the figure may be the generator's limit). */
  generatorSaturated: boolean
  note?: string
}

export interface Context {
  paths: BuildPaths
  pin: { server: string; generator: string } | null
  log: (line: string) => void
  /** Extra node flags for the servers (e.g. --cpu-prof). */
  serverNodeArgs: string[]
  /** Directory for CPU profiles of each measured window (null: no profiling). */
  profileDir: string | null
}

export interface LoadShape {
  rooms: number
  clientsPerRoom: number
  editsPerSec: number
  awarenessPerSec: number
  warmupMs: number
  measureMs: number
  graceMs: number
}

const GENERATOR_BUSY_PCT = 90

async function withSystem<T>(
  ctx: Context,
  spec: SystemSpec,
  dataDir: string | null,
  body: (system: RunningSystem, generator: GeneratorProcess) => Promise<T>,
): Promise<T> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'tandem-bench-'))
  const system = await startSystem(spec, dir, ctx.paths, ctx.pin?.server ?? null, ctx.serverNodeArgs)
  const generator = new GeneratorProcess(ctx.paths.generator, ctx.pin?.generator ?? null)
  try {
    return await body(system, generator)
  } finally {
    await generator.close()
    await system.stop()
    if (!dataDir) rmSync(dir, { recursive: true, force: true })
    // A server that logged warnings (closed connections, failed stores) must not go unnoticed.
    const stderr = system.stderr.trim()
    if (stderr) ctx.log(`    ${spec.name} stderr: ${stderr.slice(0, 600).replace(/\n/g, '\n    ')}`)
  }
}

/** Opens and syncs `clientsPerRoom` generator clients in each of `rooms` rooms named `<prefix>-<i>`. */
function connectRooms(
  system: RunningSystem,
  generator: GeneratorProcess,
  prefix: string,
  rooms: number,
  clientsPerRoom: number,
  presence: boolean,
): Promise<{ type: string; ms: number; clients: number }> {
  return generator.request(
    {
      cmd: 'connect',
      base: system.base,
      dialect: system.spec.dialect,
      rooms: Array.from({ length: rooms }, (_, i) => `${prefix}-${i}`),
      clientsPerRoom,
      presence,
      serverSyncs: system.spec.serverSyncs,
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
      if (profile)
        system.child.send({ probe: 'profile', ...(phase === 'start' ? { start: true } : { stop: profile }) })
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
  }
}

function rowFrom(spec: SystemSpec, workload: string, m: Measured): Row {
  const seconds = m.result.windowMs / 1000
  const updates = m.result.edits + m.result.awareness
  return {
    system: spec.name,
    workload,
    updatesPerSec: updates / seconds,
    p50Ms: m.result.p50Ms,
    p95Ms: m.result.p95Ms,
    p99Ms: m.result.p99Ms,
    cpuPct: (m.cpuUs / 1000 / m.result.windowMs) * 100,
    cpuUsPerUpdate: updates > 0 ? m.cpuUs / updates : null,
    rssBytes: m.end.rssBytes,
    generatorCpuPct: m.result.generatorCpuPct,
    editsPerSec: m.result.edits / seconds,
    kernelSharePct: m.cpuUs > 0 ? (m.systemUs / m.cpuUs) * 100 : null,
    delivery: m.result.expected > 0 ? m.result.delivered / m.result.expected : null,
    loopDelayP99Ms: m.end.loopDelayP99Ms,
    otherLoadPct:
      m.machineBusyMs === null
        ? null
        : Math.max(
            0,
            ((m.machineBusyMs - m.cpuUs / 1000 - (m.result.generatorCpuPct / 100) * m.result.windowMs) /
              m.result.windowMs) *
              100,
          ),
    runs: 1,
    generatorSaturated: m.result.generatorCpuPct > GENERATOR_BUSY_PCT,
    ...(m.result.closedClients > 0 ? { note: `${m.result.closedClients} client sockets were closed` } : {}),
  }
}

/** Steady load (typing, big room): one row per run. */
export async function steady(
  ctx: Context,
  spec: SystemSpec,
  workload: string,
  shape: LoadShape,
): Promise<Row> {
  return withSystem(ctx, spec, null, async (system, generator) => {
    await connectRooms(
      system,
      generator,
      workload,
      shape.rooms,
      shape.clientsPerRoom,
      shape.awarenessPerSec > 0,
    )
    return rowFrom(spec, workload, await measure(system, generator, shape, ctx.profileDir))
  })
}

/**
 * Raises the per-client edit rate step by step until p99 > `p99LimitMs` or a marker is missing
 * (or the generator itself saturates); the row is the last step that held.
 */
export async function ramp(
  ctx: Context,
  spec: SystemSpec,
  shape: LoadShape,
  rates: number[],
  p99LimitMs: number,
): Promise<Row> {
  return withSystem(ctx, spec, null, async (system, generator) => {
    await connectRooms(system, generator, 'ramp', shape.rooms, shape.clientsPerRoom, true)
    let best: Row | null = null
    let note = `held every step up to ${rates.at(-1)} edits/s per client`
    for (const rate of rates) {
      const row = rowFrom(
        spec,
        'ramp',
        await measure(system, generator, { ...shape, editsPerSec: rate }, ctx.profileDir),
      )
      const delivered = row.delivery ?? 0
      if (row.note) ctx.log(`    ${row.note}`)
      ctx.log(
        `    ${rate}/s per client: ${fmt(row.updatesPerSec, 0)} upd/s, p99 ${fmt(row.p99Ms, 1)} ms, ` +
          `delivery ${(delivered * 100).toFixed(2)}%, server ${fmt(row.cpuPct, 0)}%, generator ${fmt(row.generatorCpuPct, 0)}%`,
      )
      if ((row.p99Ms ?? Number.POSITIVE_INFINITY) > p99LimitMs || delivered < 1) {
        note = `failed at ${rate} edits/s per client (p99 ${fmt(row.p99Ms, 1)} ms, delivery ${(delivered * 100).toFixed(2)}%)`
        break
      }
      best = row
      if (row.generatorSaturated) {
        note = `stopped at ${rate} edits/s per client: generator saturated`
        break
      }
    }
    const result =
      best ?? rowFrom(spec, 'ramp', await measure(system, generator, { ...shape, editsPerSec: rates[0] }))
    return { ...result, note }
  })
}

/** Connects `rooms x clientsPerRoom` synced, present clients and reports server memory per connection. */
export async function idle(
  ctx: Context,
  spec: SystemSpec,
  rooms: number,
  clientsPerRoom: number,
): Promise<Row> {
  return withSystem(ctx, spec, null, async (system, generator) => {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const before = await system.sample({ gc: true })
    const connected = await connectRooms(system, generator, 'idle', rooms, clientsPerRoom, true)
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
      generatorSaturated: false,
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
            generatorSaturated: false,
          }
        }),
      )
    }
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Median of each numeric field over rows of one system and workload. */
export function medianRow(rows: Row[]): Row {
  const first = rows[0]
  const out: Row = { ...first, runs: rows.length, generatorSaturated: rows.some((r) => r.generatorSaturated) }
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
