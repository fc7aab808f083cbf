/**
 * The ramp: the typing load (same rooms, clients, trace replay and cursor moves) at rising edit
 * rates per client, every step on a fresh server process and generator, until a step does not hold;
 * then one step halfway between the last that held and the first that did not (or at half the first
 * rate, if that did not hold) narrows the maximum.
 *
 * A step holds if its p99 edit-to-remote latency is within the limit, every marker arrived, and the
 * generator was not the limit (./workloads.ts `generatorBound`: its core at least 90% busy, or it
 * sent fewer updates than asked). A generator-bound step never holds, whatever its latency; a step
 * whose p99 is over the limit by no more than the generator's own event-loop lag (p99) is
 * generator-bound too. The ramp's maximum is then the generator's (`limit: 'generator'`), otherwise
 * the server's (`limit: 'server'`). A step that other processes kept busy even after two retries is
 * judged neither way and ends the ramp (`limit: 'machine'`).
 *
 * The capped ramp is the same with the server held to a share of one core (./cpu-cap.ts) in every
 * step, so that its limit comes at rates one generator core can drive with room to spare.
 */
import type { Positions } from './edit-script.ts'
import { formatPerSecond, servicesCpu } from './report.ts'
import type { SystemSpec } from './systems.ts'
import {
  BUSY_MACHINE_PCT,
  type Context,
  coveringCompaction,
  fmt,
  type LoadShape,
  quietest,
  type RampStep,
  type Row,
  steady,
} from './workloads.ts'

export interface RampPlan {
  /** The rows' workload name (and the rooms' prefix). */
  workload: string
  positions: Positions
  /** The server's CPU budget in % of one core (null: uncapped). */
  cpuQuotaPct: number | null
  shape: LoadShape
  /** Edits per second per client, rising. */
  rates: number[]
  p99LimitMs: number
  /** Stretch each step's window to hold every room's first compaction (./workloads.ts coveringCompaction). */
  coverCompaction: boolean
}

/** Runs the ramp for one system; the row is the highest step that held, with every step in `steps`. */
export async function ramp(ctx: Context, spec: SystemSpec, plan: RampPlan): Promise<Row> {
  const steps: RampStep[] = []
  const step = async (rate: number): Promise<{ rate: number; row: Row; verdict: RampStep['verdict'] }> => {
    const shape = { ...plan.shape, editsPerSec: rate }
    const stepShape = plan.coverCompaction ? coveringCompaction(shape) : shape
    const options = { positions: plan.positions, cpuQuotaPct: plan.cpuQuotaPct }
    const row = await quietest(ctx, () => steady(ctx, spec, plan.workload, stepShape, options), 2)
    const verdict = verdictOf(row, plan.p99LimitMs)
    steps.push(stepOf(rate, row, verdict))
    ctx.log(`    ${describeStep(rate, row, verdict)}`)
    return { rate, row, verdict }
  }

  let held: { rate: number; row: Row } | null = null
  let stopped: Awaited<ReturnType<typeof step>> | null = null
  for (const rate of plan.rates) {
    const result = await step(rate)
    if (result.verdict !== 'held') {
      stopped = result
      break
    }
    held = result
  }
  if (stopped) {
    const result = await step(held ? (held.rate + stopped.rate) / 2 : stopped.rate / 2)
    if (result.verdict === 'held') held = result
    else stopped = result
  }

  const limit: Row['limit'] = !stopped
    ? 'none'
    : stopped.verdict === 'generator-bound'
      ? 'generator'
      : stopped.verdict === 'machine-busy'
        ? 'machine'
        : 'server'
  const note = !stopped
    ? `held every step up to ${plan.rates.at(-1)} edits/s per writer`
    : `${held ? `held ${fmtRate(held.rate)} edits/s per writer; ` : 'no step held; '}` +
      `${fmtRate(stopped.rate)}/s ${stopped.verdict === 'failed' ? 'failed' : `was ${stopped.verdict}`} ` +
      `(p99 ${fmt(stopped.row.p99Ms, 1)} ms, delivery ${fmt((stopped.row.delivery ?? 0) * 100, 2)}%, ` +
      `generator ${fmt(stopped.row.generatorCpuPct, 0)}%, sent ${fmt((stopped.row.sendRatio ?? 0) * 100, 1)}% of the requested rate)`
  const base = held?.row ?? { ...(stopped as { row: Row }).row, updatesPerSec: null }
  // Generator-bound if any step was: the capped ramp exists to show that none is.
  const generatorBound = limit === 'generator' || steps.some((s) => s.verdict === 'generator-bound')
  return { ...base, limit, steps, generatorBound, note }
}

function verdictOf(row: Row, p99LimitMs: number): RampStep['verdict'] {
  if ((row.otherLoadPct ?? 0) > BUSY_MACHINE_PCT) return 'machine-busy'
  if (row.generatorBound) return 'generator-bound'
  const p99 = row.p99Ms ?? Number.NaN
  if ((row.delivery ?? 0) < 1) return 'failed'
  if (p99 <= p99LimitMs) return 'held'
  // The generator's own event-loop lag delays its receipts by about its loop p99: a miss that lag
  // accounts for is not the server's.
  return p99 - (row.generatorLoopP99Ms ?? 0) <= p99LimitMs ? 'generator-bound' : 'failed'
}

function stepOf(rate: number, row: Row, verdict: RampStep['verdict']): RampStep {
  return {
    editsPerClient: rate,
    updatesPerSec: row.updatesPerSec,
    p99Ms: row.p99Ms,
    delivery: row.delivery ?? null,
    cpuPct: row.cpuPct,
    cpuUsPerUpdate: row.cpuUsPerUpdate,
    loopDelayMaxMs: row.loopDelayMaxMs ?? null,
    loopDelayMaxPerSecondMs: row.loopDelayMaxPerSecondMs ?? [],
    p99PerSecondMs: row.p99PerSecondMs ?? [],
    generatorCpuPct: row.generatorCpuPct,
    sendRatio: row.sendRatio ?? null,
    otherLoadPct: row.otherLoadPct ?? null,
    ...(row.postgresCpuUsPerUpdate !== undefined
      ? {
          postgresCpuUsPerUpdate: row.postgresCpuUsPerUpdate,
          postgresSharedCpuUsPerUpdate: row.postgresSharedCpuUsPerUpdate ?? null,
        }
      : {}),
    ...(row.redisCpuUsPerUpdate !== undefined ? { redisCpuUsPerUpdate: row.redisCpuUsPerUpdate } : {}),
    ...(row.throttledPct !== undefined ? { throttledPct: row.throttledPct } : {}),
    verdict,
  }
}

const fmtRate = (rate: number): string => (Number.isInteger(rate) ? String(rate) : rate.toFixed(1))

function describeStep(rate: number, row: Row, verdict: RampStep['verdict']): string {
  return (
    `${fmtRate(rate)}/s per client: ${fmt(row.updatesPerSec, 0)} doc upd/s + ${fmt(row.awarenessPerSec, 0)} awareness/s, ` +
    `p99 ${fmt(row.p99Ms, 1)} ms, delivery ${fmt((row.delivery ?? 0) * 100, 2)}%, server ${fmt(row.cpuPct, 0)}% ` +
    `(${fmt(row.cpuUsPerUpdate, 0)} µs/upd${servicesCpu(row)}), generator ${fmt(row.generatorCpuPct, 0)}% ` +
    `(sent ${fmt((row.sendRatio ?? 0) * 100, 1)}%, loop p99 ${fmt(row.generatorLoopP99Ms, 1)} ms), ` +
    `other ${fmt(row.otherLoadPct, 0)}%${row.throttledPct == null ? '' : `, throttled ${fmt(row.throttledPct, 0)}% of periods`} -> ${verdict}\n      per second (ms): server loop max ${formatPerSecond(row.loopDelayMaxPerSecondMs)}` +
    `\n                       edit p99 ${formatPerSecond(row.p99PerSecondMs)}`
  )
}
