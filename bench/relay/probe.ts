/**
 * Loaded into every server under test with `node --import`: answers the harness over the IPC
 * channel with the process's own CPU time, RSS and event-loop delay (over the window and for each
 * second of it), so every system is measured the same way from inside. Messages: `{probe: 'sample'}`
 * (optionally `reset: true` to restart the event-loop histograms, `gc: true` to collect garbage
 * first), and `{probe: 'profile', start: true}` / `{probe: 'profile', stop: FILE}` for a CPU profile
 * of exactly the measured window (written as a .cpuprofile).
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loopDelayMs, loopHistogram } from './loop-delay.ts'

/** What the probe reports; `cpuUs` is user + system time since the process started. */
export interface ProbeSample {
  probe: 'sample'
  cpuUs: number
  /** The kernel's share of cpuUs (socket syscalls, loopback TCP). */
  systemUs: number
  rssBytes: number
  heapUsedBytes: number
  /** Event-loop delay in ms (./loop-delay.ts: beyond the sampling period). */
  loopDelayP50Ms: number
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  /** The largest event-loop delay of each whole second since the last reset (stalls, and when). */
  loopDelayMaxPerSecondMs: number[]
}

if (process.send) {
  const loop = loopHistogram()
  // A second histogram, read and reset every second, dates the stalls inside a window.
  const second = loopHistogram()
  let perSecond: number[] = []
  const everySecond = (): NodeJS.Timeout =>
    setInterval(() => {
      perSecond.push(loopDelayMs(second.max))
      second.reset()
    }, 1_000).unref()
  let secondTimer = everySecond()
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
      if (message.gc) {
        const gc = collector()
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
        loopDelayP50Ms: loopDelayMs(loop.percentile(50)),
        loopDelayP99Ms: loopDelayMs(loop.percentile(99)),
        loopDelayMaxMs: loopDelayMs(loop.max),
        // The second under way counts too: a stall just before the window ends must not go missing.
        loopDelayMaxPerSecondMs: [...perSecond, loopDelayMs(second.max)],
      }
      if (message.reset) {
        loop.reset()
        second.reset()
        perSecond = []
        clearInterval(secondTimer)
        secondTimer = everySecond()
      }
      process.send?.(sample)
    },
  )
  // The IPC channel must not keep a server alive on its own, nor a stopped harness keep it running.
  process.channel?.unref()
  process.on('disconnect', () => process.exit(0))
}

/**
 * The garbage collector, exposed at run time rather than with `--expose-gc` on the command line: a
 * server passes its own flags on to its worker threads, and workers refuse that one.
 */
function collector(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}
