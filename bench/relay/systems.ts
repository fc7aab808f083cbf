/**
 * The systems under test and how to start each one: its own process (or processes: a system may
 * run as several instances, each on its own port), pinned to the server core with `taskset` when
 * present, with the probe (./probe.ts) preloaded so that CPU time, RSS and event-loop delay are read
 * the same way from every server. Systems on PostgreSQL or Redis get a database and a key prefix of
 * their own for each run (./services.ts). Tandem runs from an esbuild bundle, like the peers run
 * from plain JS, so no system pays for an on-the-fly TypeScript transform.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { join } from 'node:path'
import type { ProbeSample } from './probe.ts'
import { openServices, type RunServices, type Service } from './services.ts'
import type { Dialect } from './wire.ts'

export const HOST = '127.0.0.1'

export interface SystemSpec {
  /** Row name in the results. */
  name: string
  dialect: Dialect
  /** Stores documents (can take part in the cold-load workload). */
  persistent: boolean
  /** Answers a client's sync step 1 (all but the raw relay). */
  serverSyncs: boolean
  /**
   * Server processes per run (default 1), each on its own port, all serving every room; the
   * generator spreads each room's members over them in turn (./generator.ts `connect`).
   */
  instances?: number
  /** Services it runs on; each run gets its own database and Redis prefix (./services.ts). */
  services?: Service[]
  /** argv after `node` and env additions, given a port, a per-run data directory and the run's services. */
  command(
    port: number,
    dataDir: string,
    paths: BuildPaths,
    services: RunServices | null,
  ): { args: string[]; env: Record<string, string> }
}

/** Where the harness's build (./build.ts) put the bundles. */
export interface BuildPaths {
  /** The directory holding them all (removed when the run ends). */
  dir: string
  probe: string
  generator: string
  tandem: string
  rawRelay: string
  hocuspocus: string
}

const nodeModules = join(import.meta.dirname, '../../node_modules')

export const SYSTEMS: SystemSpec[] = [
  {
    name: 'tandem-durable',
    dialect: 'y',
    persistent: true,
    serverSyncs: true,
    command: (port, dir, paths) => ({
      args: [paths.tandem, ...tandemFlags(port), '--db', join(dir, 'tandem.db')],
      env: TANDEM_ENV,
    }),
  },
  {
    name: 'tandem-memory',
    dialect: 'y',
    persistent: false,
    serverSyncs: true,
    command: (port, _dir, paths) => ({
      args: [paths.tandem, ...tandemFlags(port), '--storage', 'memory'],
      env: TANDEM_ENV,
    }),
  },
  {
    name: 'tandem-postgres',
    dialect: 'y',
    persistent: true,
    serverSyncs: true,
    services: ['postgres'],
    command: (port, _dir, paths, services) => ({
      args: [paths.tandem, ...tandemFlags(port), '--database-url', need(services?.databaseUrl)],
      env: TANDEM_ENV,
    }),
  },
  {
    // Two instances sharing one database, with fan-out between them through Redis (a build from
    // before fan-out refuses the flags, and does not start).
    name: 'tandem-2x',
    dialect: 'y',
    persistent: true,
    serverSyncs: true,
    instances: 2,
    services: ['postgres', 'redis'],
    command: (port, _dir, paths, services) => ({
      args: [
        paths.tandem,
        ...tandemFlags(port),
        '--database-url',
        need(services?.databaseUrl),
        '--redis-url',
        need(services?.redisUrl),
        '--redis-prefix',
        need(services?.redisPrefix),
      ],
      env: TANDEM_ENV,
    }),
  },
  {
    name: 'y-websocket-1.5.4',
    dialect: 'y',
    persistent: false,
    serverSyncs: true,
    command: (port) => ({
      args: [join(nodeModules, 'y-websocket-154/bin/server.js')],
      env: { HOST, PORT: String(port) },
    }),
  },
  {
    name: 'y-websocket-1.5.4-leveldb',
    dialect: 'y',
    persistent: true,
    serverSyncs: true,
    command: (port, dir) => ({
      args: [join(nodeModules, 'y-websocket-154/bin/server.js')],
      env: { HOST, PORT: String(port), YPERSISTENCE: join(dir, 'leveldb') },
    }),
  },
  {
    name: '@y/websocket-server',
    dialect: 'y',
    persistent: false,
    serverSyncs: true,
    command: (port) => ({
      args: [join(nodeModules, '@y/websocket-server/src/server.js')],
      env: { HOST, PORT: String(port) },
    }),
  },
  {
    name: 'hocuspocus-memory',
    dialect: 'hocuspocus',
    persistent: false,
    serverSyncs: true,
    command: (port, _dir, paths) => ({ args: [paths.hocuspocus], env: { HOST, PORT: String(port) } }),
  },
  {
    name: 'hocuspocus-sqlite',
    dialect: 'hocuspocus',
    persistent: true,
    serverSyncs: true,
    command: (port, dir, paths) => ({
      args: [paths.hocuspocus],
      env: { HOST, PORT: String(port), HOCUSPOCUS_DB: join(dir, 'hocuspocus.sqlite') },
    }),
  },
  {
    name: 'raw-relay',
    dialect: 'y',
    persistent: false,
    serverSyncs: false,
    command: (port, _dir, paths) => ({ args: [paths.rawRelay], env: { HOST, PORT: String(port) } }),
  },
]

/**
 * Every generator client connects from 127.0.0.1, and the seed phase types a room's history at full
 * speed: lift Tandem's per-IP connection limit and its per-connection document message rate
 * (environment variables, which builds from before the limits ignore). The measured windows pace
 * each client far below the default rate; every other limit stays at its default, as a user runs it.
 */
const TANDEM_ENV = { TANDEM_MAX_CONNECTIONS_PER_IP: '100000', TANDEM_DOC_MESSAGES_PER_SECOND: '100000' }

function tandemFlags(port: number): string[] {
  return ['--port', String(port), '--host', HOST, '--static-dir', '', '--log-level', 'warn']
}

function need(value: string | null | undefined): string {
  if (!value) throw new Error('the run was given no service to connect to')
  return value
}

/**
 * Settings that would change how a Tandem server stores or fans out if the harness's own environment
 * held them; every server starts without them (a system that wants them says so in `command`).
 */
const SERVICE_ENV = [
  'DATABASE_URL',
  'TANDEM_DATABASE_SCHEMA',
  'TANDEM_STORAGE',
  'TANDEM_DB',
  'REDIS_URL',
  'REDIS_PREFIX',
]

/** Where the harness runs things: `taskset` CPU lists, or null without pinning. */
export interface Pinning {
  server: string
  generator: string
  /** Cores on the machine. */
  cores: number
}

/** CPU list argument for taskset, or null when taskset is missing or the machine has one core. */
export function pinning(): Pinning | null {
  const probe = spawnSync('taskset', ['--version'], { stdio: 'ignore' })
  if (probe.error || probe.status !== 0) return null
  const cpus = (spawnSync('nproc', { encoding: 'utf8' }).stdout ?? '').trim()
  const count = Number(cpus)
  if (!Number.isFinite(count) || count < 2) return null
  return { server: '0', generator: `1-${count - 1}`, cores: count }
}

/**
 * The cores of `instances` server processes: with a core for each and one left for the generator,
 * instance i on core i and the generator on the rest (its list shrinks: it is one process, on one
 * core at a time); otherwise all of them share the server core, and the generator keeps its cores.
 */
export function serverPlacement(
  pin: Pinning | null,
  instances: number,
): { servers: string[]; generator: string } | null {
  if (!pin) return null
  if (instances <= 1) return { servers: [pin.server], generator: pin.generator }
  if (pin.cores > instances)
    return {
      servers: Array.from({ length: instances }, (_, i) => String(i)),
      generator: pin.cores - 1 > instances ? `${instances}-${pin.cores - 1}` : String(instances),
    }
  return { servers: Array.from({ length: instances }, () => pin.server), generator: pin.generator }
}

/** One server process under test. */
export class ServerProcess {
  private exited: Promise<number | null>
  stderr = ''
  /** Tandem's stall-monitor log lines (JSON on stdout): what ran around each event-loop stall. */
  stalls = ''

  constructor(
    readonly port: number,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    child.stderr?.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += chunk.toString()
    })
    let partial = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines)
        if (line.includes('"stallMs"') && this.stalls.length < 20_000) this.stalls += `${line}\n`
    })
  }

  get base(): string {
    return `ws://${HOST}:${this.port}`
  }

  /** Asks the preloaded probe for a sample (see probe.ts). */
  sample(options: { reset?: boolean; gc?: boolean } = {}): Promise<ProbeSample> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server on port ${this.port}: probe did not answer`)),
        10_000,
      )
      const onMessage = (message: ProbeSample): void => {
        if (message?.probe !== 'sample') return
        clearTimeout(timer)
        this.child.off('message', onMessage)
        resolve(message)
      }
      this.child.on('message', onMessage)
      this.child.send({ probe: 'sample', ...options })
    })
  }

  /** SIGTERM (graceful), then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

/** A running system under test: its server processes and the services of this run. */
export class RunningSystem {
  constructor(
    readonly spec: SystemSpec,
    readonly processes: ServerProcess[],
    readonly services: RunServices | null,
    /** How the processes are pinned, for the notes (null: one process, pinned as every server is). */
    readonly placement: string | null,
  ) {}

  /** The first instance's address (the one a single client, e.g. the stock client, uses). */
  get base(): string {
    return this.processes[0].base
  }

  get bases(): string[] {
    return this.processes.map((p) => p.base)
  }

  get stderr(): string {
    return this.labelled((p) => p.stderr)
  }

  get stalls(): string {
    return this.labelled((p) => p.stalls)
  }

  private labelled(text: (p: ServerProcess) => string): string {
    if (this.processes.length === 1) return text(this.processes[0])
    return this.processes
      .map((p, i) => (text(p).trim() ? `[instance ${i + 1}] ${text(p).trim()}\n` : ''))
      .join('')
  }

  /**
   * Every process's probe, summed: CPU time and memory add up; event-loop delays are the worst
   * of the processes' (per second too).
   */
  async sample(options: { reset?: boolean; gc?: boolean } = {}): Promise<ProbeSample> {
    const samples = await Promise.all(this.processes.map((p) => p.sample(options)))
    if (samples.length === 1) return samples[0]
    const sum = (get: (s: ProbeSample) => number): number => samples.reduce((total, s) => total + get(s), 0)
    const worst = (get: (s: ProbeSample) => number): number => Math.max(...samples.map(get))
    const seconds = Math.max(...samples.map((s) => s.loopDelayMaxPerSecondMs.length))
    return {
      probe: 'sample',
      cpuUs: sum((s) => s.cpuUs),
      systemUs: sum((s) => s.systemUs),
      rssBytes: sum((s) => s.rssBytes),
      heapUsedBytes: sum((s) => s.heapUsedBytes),
      loopDelayP50Ms: worst((s) => s.loopDelayP50Ms),
      loopDelayP99Ms: worst((s) => s.loopDelayP99Ms),
      loopDelayMaxMs: worst((s) => s.loopDelayMaxMs),
      loopDelayMaxPerSecondMs: Array.from({ length: seconds }, (_, i) =>
        worst((s) => s.loopDelayMaxPerSecondMs[i] ?? 0),
      ),
    }
  }

  /** Starts a CPU profile in every process, or stops them into `file` (one per process beyond the first). */
  profile(stop: string | null): void {
    this.processes.forEach((p, i) => {
      const file = stop && i > 0 ? stop.replace(/\.cpuprofile$/, `-${i + 1}.cpuprofile`) : stop
      p.child.send({ probe: 'profile', ...(file ? { stop: file } : { start: true }) })
    })
  }

  /** Stops every process (see ServerProcess.stop), then removes the run's database and Redis keys. */
  async stop(graceMs = 5_000): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(graceMs)))
    await this.services?.drop()
  }
}

/**
 * Starts `spec` (its services first, then each instance on a free port) and resolves once every
 * instance accepts TCP connections.
 */
export async function startSystem(
  spec: SystemSpec,
  dataDir: string,
  paths: BuildPaths,
  pin: Pinning | null,
  extraNodeArgs: string[] = [],
): Promise<RunningSystem> {
  const instances = spec.instances ?? 1
  const placement = serverPlacement(pin, instances)
  const services = spec.services?.length ? await openServices(spec.services) : null
  const processes: ServerProcess[] = []
  const system = new RunningSystem(
    spec,
    processes,
    services,
    instances > 1 ? describePlacement(placement, instances) : null,
  )
  try {
    for (let i = 0; i < instances; i++)
      processes.push(
        await startProcess(spec, dataDir, paths, services, placement?.servers[i] ?? null, extraNodeArgs),
      )
  } catch (err) {
    await system.stop()
    throw err
  }
  return system
}

function describePlacement(
  placement: { servers: string[]; generator: string } | null,
  instances: number,
): string {
  if (!placement) return `${instances} server processes, no CPU pinning`
  const shared = new Set(placement.servers).size === 1
  return shared
    ? `${instances} server processes sharing core ${placement.servers[0]}, generator on ${placement.generator}`
    : `server processes on cores ${placement.servers.join(', ')}, generator on ${placement.generator}`
}

async function startProcess(
  spec: SystemSpec,
  dataDir: string,
  paths: BuildPaths,
  services: RunServices | null,
  cpu: string | null,
  extraNodeArgs: string[],
): Promise<ServerProcess> {
  const port = await freePort()
  const { args, env } = spec.command(port, dataDir, paths, services)
  const nodeArgs = [...extraNodeArgs, '--import', paths.probe, ...args]
  const [file, argv] = cpu
    ? ['taskset', ['-c', cpu, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs]
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !SERVICE_ENV.includes(key)),
  )
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
    env: { ...inherited, ...env, NODE_ENV: 'production' },
  })
  const server = new ServerProcess(port, child)
  const deadline = Date.now() + 15_000
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await server.stop()
      throw new Error(`${spec.name} did not start: ${server.stderr.slice(0, 2000)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return server
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: HOST })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
