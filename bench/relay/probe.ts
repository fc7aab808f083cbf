/**
 * Loaded into every server under test with `node --import`: answers the harness over the IPC
 * channel with the process's own CPU time, RSS and event-loop delay, so every system is measured
 * the same way from inside. Messages: `{probe: 'sample'}` (optionally `reset: true` to restart the
 * event-loop histogram, `gc: true` to collect garbage first when `--expose-gc` is on), and
 * `{probe: 'profile', start: true}` / `{probe: 'profile', stop: FILE}` for a CPU profile of exactly
 * the measured window (written as a .cpuprofile).
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { monitorEventLoopDelay } from 'node:perf_hooks'

/** What the probe reports; `cpuUs` is user + system time since the process started. */
export interface ProbeSample {
  probe: 'sample'
  cpuUs: number
  /** The kernel's share of cpuUs (socket syscalls, loopback TCP). */
  systemUs: number
  rssBytes: number
  heapUsedBytes: number
  loopDelayP50Ms: number
  loopDelayP99Ms: number
  loopDelayMaxMs: number
}

if (process.send) {
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let session: Session | null = null
  process.on(
    'message',
    (message: { probe?: string; reset?: boolean; gc?: boolean; start?: boolean; stop?: string }) => {
      if (message?.probe === 'profile') {
        if (message.start) {
          session = new Session()
          session.connect()
          session.post('Profiler.enable', () => session?.post('Profiler.start'))
        } else if (message.stop && session) {
          const file = message.stop
          session.post('Profiler.stop', (err, result) => {
            if (!err) writeFileSync(file, JSON.stringify(result.profile))
            session?.disconnect()
            session = null
            process.send?.({ probe: 'profiled', file })
          })
        }
        return
      }
      if (message?.probe !== 'sample') return
      const gc = (globalThis as { gc?: () => void }).gc
      if (message.gc && gc) {
        gc()
        gc()
      }
      const cpu = process.cpuUsage()
      const memory = process.memoryUsage()
      const sample: ProbeSample = {
        probe: 'sample',
        cpuUs: cpu.user + cpu.system,
        systemUs: cpu.system,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        loopDelayP50Ms: loop.percentile(50) / 1e6,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        loopDelayMaxMs: loop.max / 1e6,
      }
      if (message.reset) loop.reset()
      process.send?.(sample)
    },
  )
  // The IPC channel must not keep a server alive on its own, nor a stopped harness keep it running.
  process.channel?.unref()
  process.on('disconnect', () => process.exit(0))
}
