/**
 * The system under test for bench/hostile.ts: one or more `server/main.ts` processes (with
 * bench/relay/probe.ts preloaded), on memory, SQLite or a fresh PostgreSQL database and Redis prefix
 * (bench/relay/services.ts), optionally signing room links; and what the harness reads of each:
 * its peak RSS (VmHWM), `/health`, a probe sample, and the event-loop stalls it logs (stallWarnMs)
 * with what ran around them.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BENCH_AUTH_SECRET } from './hostile-attacker.ts'
import type { ProbeSample } from './relay/probe.ts'
import type { RunServices } from './relay/services.ts'

const root = join(import.meta.dirname, '..')
export const HOST = '127.0.0.1'

/** One "event loop stalled" line of a server's log. */
export interface LoggedStall {
  /** Epoch ms of the log line (the stall's end). */
  at: number
  ms: number
  /** What ran around it, as the stall monitor names it ("gc major 31 ms", "compaction 80 ms"). */
  around: string[]
}

export interface ServerProcess {
  child: ChildProcess
  port: number
  /** Last lines of output (for a crash's reason). */
  tail: string[]
  stalls: LoggedStall[]
  exited: Promise<string>
  alive(): boolean
}

export interface ServerOptions {
  /** SQLite directory (null: memory, unless `services` has PostgreSQL). */
  sqliteDir: string | null
  services: RunServices | null
  auth: boolean
  extraArgs: string[]
}

/** Starts `server/main.ts` with the probe preloaded; resolves once its "listening" line names the port. */
export async function startServerProcess(options: ServerOptions): Promise<ServerProcess> {
  const { sqliteDir, services } = options
  const storage = services?.databaseUrl
    ? ['--database-url', services.databaseUrl]
    : sqliteDir
      ? ['--db', join(sqliteDir, 'tandem.db')]
      : ['--storage', 'memory']
  if (services?.redisUrl)
    storage.push('--redis-url', services.redisUrl, '--redis-prefix', services.redisPrefix!)
  const args = [
    '--import',
    'tsx',
    '--import',
    join(root, 'bench/relay/probe.ts'),
    join(root, 'server/main.ts'),
    '--port',
    '0',
    '--host',
    HOST,
    '--static-dir',
    '',
    // info: the "listening" line names the port.
    '--log-level',
    'info',
    ...storage,
    ...(options.auth ? ['--auth-secret', BENCH_AUTH_SECRET] : []),
    ...options.extraArgs,
  ]
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  const tail: string[] = []
  const stalls: LoggedStall[] = []
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`)),
  )
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error('server did not start within 20 s'))
    }, 20_000)
    const onLine = (line: string) => {
      if (line.trim() === '') return
      tail.push(line.slice(0, 300))
      if (tail.length > 60) tail.shift()
      if (line.includes('"listening"')) {
        clearTimeout(timer)
        resolve(JSON.parse(line).port)
      } else if (line.includes('"event loop stalled')) {
        const stall = parseStall(line)
        if (stall) stalls.push(stall)
      }
    }
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffered = ''
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) onLine(line)
      })
    }
    void exited.then((how) => reject(new Error(`server exited at start (${how}): ${tail.join(' | ')}`)))
  })
  return {
    child,
    port,
    tail,
    stalls,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
  }
}

function parseStall(line: string): LoggedStall | null {
  try {
    const entry = JSON.parse(line) as {
      time: number
      stallMs: number
      events?: Array<{ kind: string; ms: number; detail?: string }>
    }
    const around = (entry.events ?? []).map(
      (event) => `${event.kind}${event.detail ? ` (${event.detail})` : ''} ${Math.round(event.ms)} ms`,
    )
    return { at: entry.time, ms: entry.stallMs, around }
  } catch {
    return null
  }
}

/** Peak resident set size (VmHWM) of `pid` in MB, or null once the process is gone. */
export function peakRssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /VmHWM:\s+(\d+) kB/.exec(status)
    return match ? Number(match[1]) / 1024 : null
  } catch {
    return null
  }
}

/** `/health` as JSON within `timeoutMs`, or null. */
export async function readHealth(port: number, timeoutMs: number): Promise<Record<string, any> | null> {
  try {
    const res = await fetch(`http://${HOST}:${port}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    return (await res.json()) as Record<string, any>
  } catch {
    return null
  }
}

/** A probe sample (bench/relay/probe.ts) within `timeoutMs`, or null. */
export function readProbe(
  child: ChildProcess,
  timeoutMs: number,
  reset = false,
): Promise<ProbeSample | null> {
  return new Promise((resolve) => {
    if (!child.connected) return resolve(null)
    const timer = setTimeout(() => {
      child.off('message', onMessage)
      resolve(null)
    }, timeoutMs)
    const onMessage = (message: ProbeSample) => {
      if (message?.probe !== 'sample') return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(message)
    }
    child.on('message', onMessage)
    child.send({ probe: 'sample', reset }, () => {})
  })
}

/** The reason a crashed server gave: its uncaught error line, else its last error log, else its last line. */
export function lastError(tail: string[]): string {
  const reversed = [...tail].reverse()
  const uncaught = reversed.find((line) => /^(\w*Error\b|FATAL ERROR)/.test(line))
  if (uncaught) return uncaught.slice(0, 160)
  for (const line of reversed) {
    try {
      const entry = JSON.parse(line)
      if (entry.level >= 50) return String(entry.err?.message ?? entry.msg).slice(0, 160)
    } catch {}
  }
  return (tail.at(-1) ?? '').slice(0, 160)
}
