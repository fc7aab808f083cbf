/**
 * The servers of the change-feed benchmark (bench/feed.ts), started through the relay harness
 * (bench/relay/systems.ts: a free port, pinned with `taskset` to the server core, the probe
 * preloaded for CPU time, RSS and heap after a forced GC):
 *
 * - `tandem`: the compiled server as `npm start` runs it (`node dist/server/main.js`, built first
 *   with `scripts/build.mjs --if-stale server`), on SQLite (`--db`) or memory, with the connection
 *   and rate limits raised so that one generator address may open every client and write fast.
 * - `floor`: ./floor-server.ts, the least an SSE fan-out can do.
 *
 * The probe and the floor are bundled with esbuild into .tmp/bench-feed/run-<pid>/. Each server's
 * soft file-descriptor limit is raised to its hard limit with `prlimit` (20,000 here).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { bundle } from '../relay/build.ts'
import {
  type BuildPaths,
  HOST,
  type Pinning,
  type RunningSystem,
  type SystemSpec,
  startSystem,
} from '../relay/systems.ts'

const root = join(import.meta.dirname, '../..')
export const TANDEM_MAIN = join(root, 'dist/server/main.js')

export type Storage = 'sqlite' | 'memory'

export interface FeedBuild extends BuildPaths {
  floor: string
}

/** Builds the server if stale (dist/), and bundles the probe and the floor. */
export async function buildFeedBench(): Promise<FeedBuild> {
  const built = spawnSync(process.execPath, [join(root, 'scripts/build.mjs'), '--if-stale', 'server'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  if (built.status !== 0) throw new Error('npm run build (server) failed')
  const dir = join(root, '.tmp/bench-feed', `run-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const at = await bundle(
    { probe: join(root, 'bench/relay/probe.ts'), floor: join(import.meta.dirname, 'floor-server.ts') },
    dir,
  )
  return {
    dir,
    probe: at('probe'),
    floor: at('floor'),
    tandem: TANDEM_MAIN,
    generator: '',
    rawRelay: '',
    hocuspocus: '',
  }
}

export function removeBuild(paths: FeedBuild): void {
  rmSync(paths.dir, { recursive: true, force: true })
}

/** Flags that let one address open every client and write as fast as the writer goes. */
const LIMIT_FLAGS = [
  ['--max-connections', '30000'],
  ['--max-connections-per-ip', '30000'],
  ['--max-http-connections', '30000'],
  ['--max-http-per-ip', '30000'],
  ['--max-feeds-per-room', '30000'],
  ['--doc-messages-per-second', '1000000'],
].flat()

export function tandemSpec(storage: Storage): SystemSpec {
  return {
    name: `tandem-${storage}`,
    dialect: 'y',
    persistent: storage === 'sqlite',
    serverSyncs: true,
    command: (port, dir, paths) => ({
      args: [
        paths.tandem,
        ...['--port', String(port), '--host', HOST, '--static-dir', '', '--log-level', 'warn'],
        ...LIMIT_FLAGS,
        ...(storage === 'sqlite' ? ['--db', join(dir, 'tandem.db')] : ['--storage', 'memory']),
      ],
      env: { TANDEM_DOC_BYTES_PER_SECOND: String(1 << 30) },
    }),
  }
}

export const FLOOR_SPEC: SystemSpec = {
  name: 'sse-floor',
  dialect: 'y',
  persistent: false,
  serverSyncs: false,
  command: (port, _dir, paths) => ({
    args: [(paths as FeedBuild).floor],
    env: { HOST, PORT: String(port) },
  }),
}

/** A server started by `startServer`. */
export interface StartedServer {
  system: RunningSystem
  port: number
  pid: number
}

/** Starts `spec` on its core and raises its soft descriptor limit to the hard one. */
export async function startServer(
  spec: SystemSpec,
  dataDir: string,
  paths: FeedBuild,
  pin: Pinning | null,
): Promise<StartedServer> {
  const system = await startSystem(spec, dataDir, paths, pin)
  const { child, port } = system.processes[0]
  const pid = child.pid!
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()
  spawnSync('prlimit', [`--pid=${pid}`, `--nofile=${hard}:${hard}`], { stdio: 'ignore' })
  return { system, port, pid }
}

/** The soft descriptor limit of `pid` (/proc/<pid>/limits). */
export function openFilesLimit(pid: number): number | null {
  const limits = spawnSync('cat', [`/proc/${pid}/limits`], { encoding: 'utf8' }).stdout ?? ''
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'))
  return line ? Number(line.split(/\s+/)[3]) : null
}
