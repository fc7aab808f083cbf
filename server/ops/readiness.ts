/**
 * Readiness (`GET /ready`): whether this instance should get new traffic. It is not ready while it
 * shuts down, while its store does not answer a ping, while its store
 * appends are failing (the commit queue keeps the batch in memory and retries), or, with Redis
 * fan-out, while Redis cannot be published to or received from (the instance still serves its own
 * clients: "degraded", but a balancer should send new clients elsewhere). `/health` stays
 * liveness: the process runs and answers.
 */
import type { RoomBus } from '../fanout/room-bus.ts'
import type { DocStore } from '../store/index.ts'

/** How long a store ping may take before the store counts as not answering. */
export const STORE_PING_TIMEOUT_MS = 2_000

export interface ReadinessSources {
  store: Pick<DocStore, 'ping'>
  /** Consecutive failed store appends (CommitQueue.failures). */
  storeFailures(): number
  closing(): boolean
  /** The Redis bus, when instances fan out through one. */
  bus?: Pick<RoomBus, 'problem'> | null
}

/** Resolves with why this instance is not ready; an empty list means ready. */
export async function readinessProblems(sources: ReadinessSources): Promise<string[]> {
  if (sources.closing()) return ['closing: the server is shutting down']
  const problems: string[] = []
  const failures = sources.storeFailures()
  if (failures > 0) problems.push(`store: the last ${failures} append(s) failed; retrying`)
  const busProblem = sources.bus?.problem
  if (busProblem) problems.push(busProblem)
  try {
    await withTimeout(sources.store.ping(), STORE_PING_TIMEOUT_MS)
  } catch (err) {
    problems.push(`store: ping failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  return problems
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
