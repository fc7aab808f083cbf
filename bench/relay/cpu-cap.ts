/**
 * A CPU budget for the server under test: a child cgroup of the v1 cpu controller whose CFS quota
 * is a share of one core (`cpu.cfs_period_us` CFS_PERIOD_US, `cpu.cfs_quota_us` that share of it),
 * one fresh cgroup per run (/sys/fs/cgroup/cpu/tandem-bench-<harness pid>-<n>), removed after it.
 * Every process of the server's tree goes in (its threads follow its process; a child it spawns
 * later is born inside). Needs root and the v1 cpu controller; cpuCapUnavailable() says why not.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const CPU_ROOT = '/sys/fs/cgroup/cpu'
/** The CFS period: short, so that a stall from an exhausted quota lasts at most this, not 100 ms. */
export const CFS_PERIOD_US = 10_000
/** The kernel's smallest quota (1 ms) is this share of the period, in %. */
export const MIN_QUOTA_PERCENT = 10

let created = 0
/** Caps not yet removed: a harness that exits on an error removes them on its way out. */
const live = new Set<CpuCap>()
process.once('exit', () => {
  for (const cap of live) cap.remove()
})

/** CFS throttling counters of a cgroup (cpu.stat). */
export interface Throttling {
  periods: number
  throttledPeriods: number
  throttledUs: number
}

/** A cgroup holding a share of one core. */
export class CpuCap {
  private constructor(
    readonly dir: string,
    readonly percent: number,
  ) {}

  /** Creates a fresh cgroup with `percent` of one core (throws when it cannot). */
  static create(percent: number): CpuCap {
    if (!(percent >= MIN_QUOTA_PERCENT && percent <= 100))
      throw new Error(`CPU quota must be ${MIN_QUOTA_PERCENT}..100% of a core, not ${percent}`)
    const dir = join(CPU_ROOT, `tandem-bench-${process.pid}-${++created}`)
    mkdirSync(dir)
    const cap = new CpuCap(dir, percent)
    live.add(cap)
    try {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(CFS_PERIOD_US))
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Math.round((CFS_PERIOD_US * percent) / 100)))
    } catch (err) {
      cap.remove()
      throw err
    }
    return cap
  }

  /** Moves every process of the trees rooted at `pids` into the cgroup; returns the pids moved. */
  confine(pids: number[]): number[] {
    const moved = processTree(pids)
    for (const pid of moved) {
      try {
        writeFileSync(join(this.dir, 'cgroup.procs'), String(pid))
      } catch (err) {
        // A process that exited meanwhile cannot be moved; one that lives must be.
        if (existsSync(`/proc/${pid}`)) throw err
      }
    }
    return moved
  }

  throttling(): Throttling {
    const stat = Object.fromEntries(
      readFileSync(join(this.dir, 'cpu.stat'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]),
    )
    return {
      periods: Number(stat.nr_periods),
      throttledPeriods: Number(stat.nr_throttled),
      throttledUs: Number(stat.throttled_time) / 1000,
    }
  }

  /** Removes the cgroup, first moving any process still in it (an orphaned child) back to the root. */
  remove(): void {
    live.delete(this)
    if (!existsSync(this.dir)) return
    const left = readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean)
    for (const pid of left) {
      try {
        writeFileSync(join(CPU_ROOT, 'cgroup.procs'), pid)
      } catch {
        // Exited meanwhile.
      }
    }
    rmdirSync(this.dir)
  }
}

/** Why a CPU cap cannot be set up here (not root, no v1 cpu controller...), or null if it can. */
export function cpuCapUnavailable(): string | null {
  if (!existsSync(join(CPU_ROOT, 'cpu.cfs_quota_us')))
    return `no cgroup v1 cpu controller at ${CPU_ROOT} (cpu.cfs_quota_us missing)`
  try {
    CpuCap.create(25).remove()
    return null
  } catch (err) {
    return `cannot create a cgroup under ${CPU_ROOT}: ${err instanceof Error ? err.message : String(err)}`
  }
}

/** `roots` and all their descendants, from the parent pids in /proc/<pid>/stat. */
function processTree(roots: number[]): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
  }
  const tree: number[] = []
  const todo = [...roots]
  while (todo.length) {
    const pid = todo.shift() as number
    tree.push(pid)
    todo.push(...(children.get(pid) ?? []))
  }
  return tree
}
