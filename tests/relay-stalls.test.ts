/**
 * The stall monitor: a blocked event loop is logged once, with what ran around it (here a piece of
 * work noted as it finished, like a slow message, and the blocking itself).
 */
import pino from 'pino'
import { expect, it } from 'vitest'
import { StallMonitor } from '../server/ops/stall-monitor.ts'
import { waitFor } from './helpers/relay.ts'

it('logs a stall with the work noted around it', async () => {
  const lines: Array<{ stallMs?: number; events?: Array<{ kind: string; ms: number }> }> = []
  const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  const monitor = new StallMonitor(log, 50)
  try {
    await new Promise((resolve) => setTimeout(resolve, 30))
    const started = performance.now()
    while (performance.now() - started < 200) {
      // Block the event loop, as a costly message would.
    }
    monitor.note('syncUpdate', performance.now() - started, 'a test message')
    await waitFor(() => lines.length > 0, 'the stall to be logged')
    expect(monitor.stalls).toBeGreaterThanOrEqual(1)
    expect(lines[0].stallMs).toBeGreaterThanOrEqual(150)
    expect(lines[0].events?.map((event) => event.kind)).toContain('syncUpdate')
  } finally {
    monitor.stop()
  }
})
