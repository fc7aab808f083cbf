/**
 * The systems under test and how to start each one: its own process, pinned to the server core
 * with `taskset` when present, with the probe (./probe.ts) preloaded so that CPU time, RSS and
 * event-loop delay are read the same way from every server. Tandem runs from an esbuild bundle,
 * like the peers run from plain JS, so no system pays for an on-the-fly TypeScript transform.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { join } from 'node:path'
import type { ProbeSample } from './probe.ts'
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
  /** argv after `node` and env additions, given a port and a per-run data directory. */
  command(port: number, dataDir: string, paths: BuildPaths): { args: string[]; env: Record<string, string> }
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

/** CPU list argument for taskset, or null when taskset is missing or the machine has one core. */
export function pinning(): { server: string; generator: string } | null {
  const probe = spawnSync('taskset', ['--version'], { stdio: 'ignore' })
  if (probe.error || probe.status !== 0) return null
  const cpus = (spawnSync('nproc', { encoding: 'utf8' }).stdout ?? '').trim()
  const count = Number(cpus)
  if (!Number.isFinite(count) || count < 2) return null
  return { server: '0', generator: `1-${count - 1}` }
}

/** A running server under test. */
export class RunningSystem {
  private exited: Promise<number | null>
  stderr = ''
  /** Tandem's stall-monitor log lines (JSON on stdout): what ran around each event-loop stall. */
  stalls = ''

  constructor(
    readonly spec: SystemSpec,
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
      const timer = setTimeout(() => reject(new Error(`${this.spec.name}: probe did not answer`)), 10_000)
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

/** Starts `spec` on a free port and resolves once it accepts TCP connections. */
export async function startSystem(
  spec: SystemSpec,
  dataDir: string,
  paths: BuildPaths,
  cpu: string | null,
  extraNodeArgs: string[] = [],
): Promise<RunningSystem> {
  const port = await freePort()
  const { args, env } = spec.command(port, dataDir, paths)
  const nodeArgs = [...extraNodeArgs, '--import', paths.probe, ...args]
  const [file, argv] = cpu
    ? ['taskset', ['-c', cpu, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs]
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
    env: { ...process.env, ...env, NODE_ENV: 'production' },
  })
  const system = new RunningSystem(spec, port, child)
  const deadline = Date.now() + 15_000
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await system.stop()
      throw new Error(`${spec.name} did not start: ${system.stderr.slice(0, 2000)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return system
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
