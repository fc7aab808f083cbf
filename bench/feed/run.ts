/**
 * The change-feed benchmark's measurements (run by bench/feed.ts, `npm run bench:feed`; a tiny
 * configuration in tests/feed-bench-smoke.test.ts): what a change-feed (SSE) subscriber costs the server, beside a stock
 * WebSocket client and beside a minimal SSE fan-out (issue #21, "Performance"; docs/performance.md,
 * "Change feed"). Server and generator run in separate processes pinned to separate cores
 * (bench/feed/servers.ts); the server's CPU time, RSS and heap come from the relay harness's probe.
 *
 * 1. idle: `subscribers` clients over `rooms` rooms, one system at a time. One client per room opens
 *    first (the rooms are loaded), then the baseline (after GC), then the rest; per client = the
 *    growth of RSS and heap over the rest, divided by their number.
 * 2. fanout: `fanout` clients of one room; one writer (`POST …/text`, one character appended, each
 *    waiting for its answer) makes `changes` changes after 20 warm-up ones; server CPU from the first
 *    write to the last delivery, divided by changes × clients; for Tandem's feed, Tandem's WebSocket
 *    relay, and the floor (bench/feed/floor-server.ts).
 * 3. resume: `resume` changes missed; a subscriber with `Last-Event-ID` until the last of them has
 *    arrived: server CPU and the wall time seen by the client (request to last event; an upper bound
 *    of the server's), from memory, and after a restart from the store (room loaded by another
 *    subscriber first, and cold: the request loads the room).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Pinning, pinning } from '../relay/systems.ts'
import { openAll, postText, SseSubscriber, WsClient } from './clients.ts'
import {
  buildFeedBench,
  type FeedBuild,
  FLOOR_SPEC,
  openFilesLimit,
  removeBuild,
  type StartedServer,
  type Storage,
  startServer,
  tandemSpec,
} from './servers.ts'

export interface FeedBenchOptions {
  runs: number
  subscribers: number
  rooms: number
  fanout: number
  changes: number
  resume: number
  storage: Storage
  profileDir: string | null
  /** Pin the servers and this process to separate cores with taskset (when there are two). */
  pin: boolean
  log: (line: string) => void
}

/** What is measured: Tandem's feed, Tandem's WebSocket relay, the floor (bench/feed/floor-server.ts). */
export type SystemName = 'tandem-sse' | 'tandem-ws' | 'floor-sse'
const SYSTEM_NAMES: SystemName[] = ['tandem-sse', 'tandem-ws', 'floor-sse']

export interface IdleSample {
  system: SystemName
  clients: number
  rssPerClientBytes: number
  heapPerClientBytes: number
  openMs: number
}

export interface FanoutSample {
  system: SystemName
  clients: number
  changes: number
  serverCpuUs: number
  /** The kernel's part of serverCpuUs (socket writes over loopback TCP). */
  serverSystemShare: number
  cpuPerDeliveryNs: number
  wallMs: number
  /** The generator's CPU over the window, as a share of one core. */
  generatorCore: number
}

export interface ResumeSample {
  from: 'memory' | 'store-loaded' | 'store-cold'
  missed: number
  serverCpuMs: number
  wallMs: number
}

export interface FeedBenchResult {
  date: string
  tandem: string
  node: string
  storage: Storage
  pinning: string
  options: Omit<FeedBenchOptions, 'log' | 'profileDir' | 'pin'>
  runs: { idle: IdleSample[]; fanout: FanoutSample[]; resume: ResumeSample[] }[]
  medians: {
    idle: Record<SystemName, { rssPerClientBytes: number; heapPerClientBytes: number }>
    fanout: Record<SystemName, { cpuPerDeliveryNs: number; serverSystemShare: number; generatorCore: number }>
    resume: Record<ResumeSample['from'], { serverCpuMs: number; wallMs: number }>
  }
  targets: {
    idleRssRatio: number
    idleHeapRatio: number
    cpuVsFloor: number
    cpuVsWebSocket: number
    resumeWorstMs: number
    met: { idle: boolean; cpu: boolean; resume: boolean }
  }
}

const WARMUP = 20
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Runs every measurement `runs` times; returns the samples, medians and ratios. */
export async function runFeedBench(options: FeedBenchOptions): Promise<FeedBenchResult> {
  const paths = await buildFeedBench()
  const tandem = describeTandem()
  const pin = options.pin ? pinning() : null
  if (pin) execFileSync('taskset', ['-a', '-cp', pin.generator, String(process.pid)], { stdio: 'ignore' })
  const runs: FeedBenchResult['runs'] = []
  try {
    for (let run = 1; run <= options.runs; run++) {
      options.log(`run ${run}/${options.runs}`)
      const idle: IdleSample[] = []
      for (const name of SYSTEM_NAMES) idle.push(await idleRun(name, options, paths, pin))
      const fanout: FanoutSample[] = []
      for (const name of SYSTEM_NAMES) fanout.push(await fanoutRun(name, options, paths, pin, run))
      const resume = await resumeRun(options, paths, pin)
      runs.push({ idle, fanout, resume })
    }
  } finally {
    removeBuild(paths)
  }
  return summarize(options, runs, pin, tandem)
}

function summarize(
  options: FeedBenchOptions,
  runs: FeedBenchResult['runs'],
  pin: Pinning | null,
  tandem: string,
): FeedBenchResult {
  const idle = (system: SystemName) => {
    const samples = runs.flatMap((r) => r.idle).filter((s) => s.system === system)
    return {
      rssPerClientBytes: Math.round(median(samples.map((s) => s.rssPerClientBytes))),
      heapPerClientBytes: Math.round(median(samples.map((s) => s.heapPerClientBytes))),
    }
  }
  const fanout = (system: SystemName) => {
    const samples = runs.flatMap((r) => r.fanout).filter((s) => s.system === system)
    return {
      cpuPerDeliveryNs: Math.round(median(samples.map((s) => s.cpuPerDeliveryNs))),
      serverSystemShare: round2(median(samples.map((s) => s.serverSystemShare))),
      generatorCore: round2(median(samples.map((s) => s.generatorCore))),
    }
  }
  const resume = (from: ResumeSample['from']) => {
    const samples = runs.flatMap((r) => r.resume).filter((s) => s.from === from)
    return {
      serverCpuMs: round2(median(samples.map((s) => s.serverCpuMs))),
      wallMs: round2(median(samples.map((s) => s.wallMs))),
    }
  }
  const medians: FeedBenchResult['medians'] = {
    idle: {
      'tandem-sse': idle('tandem-sse'),
      'tandem-ws': idle('tandem-ws'),
      'floor-sse': idle('floor-sse'),
    },
    fanout: {
      'tandem-sse': fanout('tandem-sse'),
      'tandem-ws': fanout('tandem-ws'),
      'floor-sse': fanout('floor-sse'),
    },
    resume: {
      memory: resume('memory'),
      'store-loaded': resume('store-loaded'),
      'store-cold': resume('store-cold'),
    },
  }
  const { 'tandem-sse': sse, 'tandem-ws': ws } = medians.idle
  const idleRssRatio = round2(sse.rssPerClientBytes / ws.rssPerClientBytes)
  const idleHeapRatio = round2(sse.heapPerClientBytes / ws.heapPerClientBytes)
  const cpuVsFloor = round2(
    medians.fanout['tandem-sse'].cpuPerDeliveryNs / medians.fanout['floor-sse'].cpuPerDeliveryNs,
  )
  const cpuVsWebSocket = round2(
    medians.fanout['tandem-sse'].cpuPerDeliveryNs / medians.fanout['tandem-ws'].cpuPerDeliveryNs,
  )
  const resumeWorstMs = Math.max(
    ...Object.values(medians.resume).map((r) => Math.max(r.serverCpuMs, r.wallMs)),
  )
  const { log: _log, profileDir: _profile, pin: _pin, ...measured } = options
  return {
    date: new Date().toISOString(),
    tandem,
    node: process.version,
    storage: options.storage,
    pinning: pin ? `server on core ${pin.server}, generator on ${pin.generator}` : 'none',
    options: measured,
    runs,
    medians,
    targets: {
      idleRssRatio,
      idleHeapRatio,
      cpuVsFloor,
      cpuVsWebSocket,
      resumeWorstMs,
      met: { idle: idleRssRatio <= 0.5, cpu: cpuVsFloor <= 1.2, resume: resumeWorstMs < 50 },
    },
  }
}

async function idleRun(name: SystemName, options: FeedBenchOptions, paths: FeedBuild, pin: Pinning | null) {
  return withServer(name, options, paths, pin, async ({ system, port, pid }, clients) => {
    const fds = openFilesLimit(pid)
    if (fds !== null && fds < options.subscribers + 100)
      throw new Error(`the server may open ${fds} files, fewer than ${options.subscribers} clients need`)
    const open = (i: number) =>
      name === 'tandem-ws'
        ? new WsClient(port, `idle-${i % options.rooms}`)
        : new SseSubscriber(port, `idle-${i % options.rooms}`)
    clients.push(...(await openAll(options.rooms, open)))
    await settle(1_000)
    const before = await system.sample({ gc: true })
    const started = performance.now()
    const rest = options.subscribers - options.rooms
    clients.push(...(await openAll(rest, (i) => open(options.rooms + i))))
    const openMs = performance.now() - started
    await settle(2_000)
    const after = await system.sample({ gc: true })
    const sample: IdleSample = {
      system: name,
      clients: rest,
      rssPerClientBytes: Math.round((after.rssBytes - before.rssBytes) / rest),
      heapPerClientBytes: Math.round((after.heapUsedBytes - before.heapUsedBytes) / rest),
      openMs: Math.round(openMs),
    }
    options.log(
      `  idle ${name}: ${rest} clients, ${sample.rssPerClientBytes} B RSS and ${sample.heapPerClientBytes} B heap each`,
    )
    return sample
  })
}

async function fanoutRun(
  name: SystemName,
  options: FeedBenchOptions,
  paths: FeedBuild,
  pin: Pinning | null,
  run: number,
): Promise<FanoutSample> {
  return withServer(name, options, paths, pin, async ({ system, port }, opened) => {
    const room = 'fanout'
    const clients = await openAll(options.fanout, () =>
      name === 'tandem-ws' ? new WsClient(port, room) : new SseSubscriber(port, room),
    )
    opened.push(...clients)
    let length = 0
    const write = async (count: number) => {
      for (let i = 0; i < count; i++) await postText(port, room, { index: length++, delete: 0, insert: 'x' })
    }
    await write(WARMUP)
    await Promise.all(clients.map((c) => c.received(WARMUP)))
    await settle(500)
    const profile = options.profileDir && name !== 'floor-sse'
    if (profile) system.profile(null)
    const before = await system.sample({ reset: true })
    const generatorBefore = process.cpuUsage()
    const started = performance.now()
    await write(options.changes)
    await Promise.all(clients.map((c) => c.received(WARMUP + options.changes)))
    const wallMs = performance.now() - started
    const generator = process.cpuUsage(generatorBefore)
    const after = await system.sample()
    if (profile) {
      const file = join(options.profileDir!, `feed-${name}-run${run}.cpuprofile`)
      await new Promise<void>((resolve) => {
        system.processes[0].child.once('message', () => resolve())
        system.profile(file)
      })
    }
    const serverCpuUs = after.cpuUs - before.cpuUs
    const sample: FanoutSample = {
      system: name,
      clients: options.fanout,
      changes: options.changes,
      serverCpuUs,
      serverSystemShare: round2((after.systemUs - before.systemUs) / serverCpuUs),
      cpuPerDeliveryNs: Math.round((serverCpuUs * 1_000) / (options.changes * options.fanout)),
      wallMs: Math.round(wallMs),
      generatorCore: round2((generator.user + generator.system) / 1_000 / wallMs),
    }
    options.log(
      `  fanout ${name}: ${sample.cpuPerDeliveryNs} ns server CPU per delivery (${Math.round(sample.serverSystemShare * 100)}% kernel), ${sample.wallMs} ms, generator at ${Math.round(sample.generatorCore * 100)}% of a core`,
    )
    return sample
  })
}

/** Starts `name`'s server in a data directory of its own, runs `body`, then closes its clients and stops it. */
async function withServer<T>(
  name: SystemName,
  options: FeedBenchOptions,
  paths: FeedBuild,
  pin: Pinning | null,
  body: (server: StartedServer, clients: { close(): void }[]) => Promise<T>,
): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-feed-'))
  const spec = name === 'floor-sse' ? FLOOR_SPEC : tandemSpec(options.storage)
  const server = await startServer(spec, dataDir, paths, pin)
  const clients: { close(): void }[] = []
  try {
    return await body(server, clients)
  } finally {
    for (const client of clients) client.close()
    await server.system.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

async function resumeRun(
  options: FeedBenchOptions,
  paths: FeedBuild,
  pin: Pinning | null,
): Promise<ResumeSample[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-feed-'))
  const spec = tandemSpec('sqlite')
  const room = 'resume'
  let server = await startServer(spec, dataDir, paths, pin)
  const samples: ResumeSample[] = []
  const holders: SseSubscriber[] = []
  try {
    let last = 0
    for (let i = 0; i < options.resume + 10; i++)
      last = await postText(server.port, room, { index: i, delete: 0, insert: 'y' })
    const from = last - options.resume
    const measure = async (label: ResumeSample['from']) => {
      await settle(300)
      const before = await server.system.sample({ reset: true })
      const started = performance.now()
      const subscriber = new SseSubscriber(server.port, room, from)
      await subscriber.received(options.resume)
      const wallMs = performance.now() - started
      const after = await server.system.sample()
      holders.push(subscriber)
      if (subscriber.lastId !== last) throw new Error(`resume ended at ${subscriber.lastId}, not ${last}`)
      const sample: ResumeSample = {
        from: label,
        missed: options.resume,
        serverCpuMs: round2((after.cpuUs - before.cpuUs) / 1_000),
        wallMs: round2(wallMs),
      }
      options.log(
        `  resume ${label}: ${options.resume} changes, ${sample.serverCpuMs} ms server CPU, ${sample.wallMs} ms`,
      )
      samples.push(sample)
    }
    await measure('memory')
    for (const holder of holders.splice(0)) holder.close()
    await server.system.stop()
    // The same database, nothing in memory.
    server = await startServer(spec, dataDir, paths, pin)
    await measure('store-cold')
    await measure('store-loaded')
    return samples
  } finally {
    for (const holder of holders) holder.close()
    await server.system.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

function describeTandem(): string {
  const git = (args: string[]) => spawnSync('git', args, { encoding: 'utf8' }).stdout.trim()
  const dirty = git(['status', '--porcelain', '--', 'server', 'shared']) !== ''
  return `dist/ built from ${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ' plus uncommitted server changes' : ''}`
}

const round2 = (n: number) => Math.round(n * 100) / 100
