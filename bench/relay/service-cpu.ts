/**
 * CPU time spent over a measured window by the service processes a system runs on, read from
 * /proc/<pid>/stat (utime + stime, whole process, in clock ticks of 10 ms), since their work is done
 * outside the server processes the probe measures:
 *
 * - `postgresUs`: the PostgreSQL backends serving this run's own database (the process title names
 *   the database, e.g. `postgres: 15/main: postgres tandem_bench_1a2b... 127.0.0.1(41234) idle`),
 *   autovacuum workers on it included. Only this run connects to that database.
 * - `postgresSharedUs`: the server's shared processes (postmaster, checkpointer, background writer,
 *   WAL writer, launchers). Machine-wide: they also work for any other database in use meanwhile.
 * - `redisUs`: the redis-server process (all its threads). Machine-wide likewise.
 *
 * Processes come and go (a pool opens a connection, an idle one is closed), so the processes are
 * read every POLL_MS and each one's last reading is kept; one born inside the window counts from 0.
 * Null where no such process is visible (e.g. PostgreSQL in a container of another PID namespace).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'

/** CPU time in µs over the window, by group (null: no process of the group was seen). */
export interface ServiceCpu {
  postgresUs: number | null
  postgresSharedUs: number | null
  redisUs: number | null
}

type Group = keyof ServiceCpu

const POLL_MS = 250
/** Linux's USER_HZ: /proc reports CPU time in 1/100 s. */
const TICK_US = 10_000
const SHARED_TITLES =
  /\b(checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher|archiver|stats collector)\b/

interface Tracked {
  group: Group
  /** Ticks when the window started (0 for a process born inside it). */
  baseline: number
  last: number
}

/** Reads the service processes' CPU over a window: `start()`, then `stop()`. */
export class ServiceCpuMeter {
  private readonly tracked = new Map<number, Tracked>()
  /** Pids seen that are none of ours (never read again). */
  private readonly ignored = new Set<number>()
  private timer: NodeJS.Timeout | null = null
  private startTicks = 0

  /** `database`: this run's PostgreSQL database (null: none); `redis`: whether to read redis-server. */
  constructor(
    private readonly database: string | null,
    private readonly redis: boolean,
  ) {}

  /** True when there is anything to measure and /proc to measure it with. */
  get active(): boolean {
    return (this.database !== null || this.redis) && existsSync('/proc/self/stat')
  }

  start(): void {
    if (!this.active) return
    this.tracked.clear()
    this.ignored.clear()
    this.startTicks = uptimeTicks()
    this.poll(true)
    this.timer = setInterval(() => this.poll(false), POLL_MS)
  }

  stop(): ServiceCpu {
    const totals: ServiceCpu = { postgresUs: null, postgresSharedUs: null, redisUs: null }
    if (!this.timer) return totals
    clearInterval(this.timer)
    this.timer = null
    this.poll(false)
    for (const { group, baseline, last } of this.tracked.values())
      totals[group] = (totals[group] ?? 0) + (last - baseline) * TICK_US
    return totals
  }

  private poll(first: boolean): void {
    for (const name of readdirSync('/proc')) {
      const pid = Number(name)
      if (!Number.isInteger(pid) || this.ignored.has(pid)) continue
      const stat = readStat(pid)
      if (!stat) continue
      const known = this.tracked.get(pid)
      if (known) {
        known.last = stat.ticks
        continue
      }
      const group = this.groupOf(pid, stat)
      if (group === undefined) continue
      if (group === null) {
        this.ignored.add(pid)
        continue
      }
      const bornInside = !first && stat.startTicks >= this.startTicks
      this.tracked.set(pid, { group, baseline: bornInside ? 0 : stat.ticks, last: stat.ticks })
    }
  }

  /** The process's group, null if none of ours, undefined if not known yet (a backend before its title is set). */
  private groupOf(pid: number, stat: Stat): Group | null | undefined {
    if (this.redis && stat.comm === 'redis-server') return 'redisUs'
    if (this.database === null || stat.comm !== 'postgres') return null
    const title = readTitle(pid)
    if (title.split(/\s+/).includes(this.database)) return 'postgresUs'
    if (SHARED_TITLES.test(title)) return 'postgresSharedUs'
    // The postmaster: the one postgres process whose parent is not one.
    if (readStat(stat.ppid)?.comm !== 'postgres') return 'postgresSharedUs'
    // Another database's backend, or a new backend that has not set its title yet.
    return title.startsWith('postgres:') ? null : undefined
  }
}

interface Stat {
  comm: string
  ppid: number
  /** utime + stime. */
  ticks: number
  /** Start time, in ticks since boot. */
  startTicks: number
}

/** What /proc/<pid>/stat says of `pid`; null if it is gone. */
function readStat(pid: number): Stat | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  // The command name is in parentheses and may hold spaces; the fields after it are plain.
  const close = text.lastIndexOf(')')
  const comm = text.slice(text.indexOf('(') + 1, close)
  const fields = text.slice(close + 2).split(' ')
  // From the third field (state) on: ppid is the 4th field overall, utime 14th, stime 15th, starttime 22nd.
  return {
    comm,
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
    startTicks: Number(fields[19]),
  }
}

function readTitle(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+/g, ' ').trim()
  } catch {
    return ''
  }
}

function uptimeTicks(): number {
  return Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100)
}
