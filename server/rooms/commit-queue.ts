/**
 * Group commit: the only path by which accepted updates reach the store, and the gate that keeps
 * anything derived from them off the wire until they are durable.
 *
 * Updates accepted during one event-loop turn are appended in one store transaction (flushed from
 * `setImmediate`), or, in a turn that goes on long (a backlog read at once, a core shared with
 * other work), in one transaction per `MAX_BATCH_MS` of it: the first updates' relays then leave
 * while the turn reads the rest, instead of all waiting for its end. Work that must not run before those updates are durable (relaying them, answering
 * a sync request from a document that contains them) is queued with `afterCommit` and runs, in the
 * order it was queued, once every update queued before it is committed. If the store fails, the
 * batch and its follow-ups stay queued and the append is retried with exponential backoff; nothing
 * is dropped and nothing is relayed as if it were durable.
 *
 * Each update is a change the store numbers (`DocStore.append` resolves with the ids): an update
 * queued with a `QueuedChange` is stored with its author, its text delta and the commit time (when
 * the batch was handed to the store, on its last attempt: one time for every change of a batch, so
 * times follow ids), and is told its id and time once durable, in commit order, before the batch's
 * follow-ups run. A failed append tells nothing; the retry does.
 *
 * Compactions run through the same queue, between batches, so a snapshot taken from a document
 * never races an append; a merge the store makes on its own (possibly long, for a big room) does not
 * hold the queue.
 */
import type { Logger } from 'pino'
import type { RelayMetrics } from '../ops/metrics.ts'
import type { DocStore, LogEntry } from '../store/index.ts'

/**
 * A batch open this long (wall time, so within one long turn) is committed as the next update is
 * appended. Turns under load take about a millisecond; this bounds what the first update of a long
 * one waits before it is relayed, at the price of one more transaction per 2 ms of such a turn.
 */
export const MAX_BATCH_MS = 2

interface Compaction {
  room: string
  start: () => Uint8Array | undefined
  resolve: (snapshotBytes: number | null) => void
}

/** A change queued with its update: what the store keeps of it, and who hears its id. */
export interface QueuedChange {
  /** Who made it (a display name), where known. */
  readonly author: string | null
  /** Its text delta as JSON (see ChangeInfo). */
  readonly delta: string | null
  /** Called once it is durable as change `id`, committed at `at` (ms since the epoch). */
  committed(id: number, at: number): void
}

interface Batch {
  entries: LogEntry[]
  /** The QueuedChange of each entry (undefined for an entry queued without one). */
  changes: Array<QueuedChange | undefined>
  followUps: Array<() => void>
}

export interface CommitQueueOptions {
  retryMinMs: number
  retryMaxMs: number
  /** Called when appends start failing (true) and when they succeed again (false). */
  onFailingChange?: (failing: boolean) => void
  /** Told about work on this thread that took long (for the stall monitor). */
  noteWork?: (kind: string, ms: number, detail?: string) => void
  /** Times each append and counts failed ones (see metrics.ts). */
  metrics?: Pick<RelayMetrics, 'storeCommitted' | 'storeFailed'>
  /**
   * Called after each batch's follow-ups ran: the server sends what they queued (ws/connection.ts
   * `uncorkAll`) rather than leaving it to the next event-loop iteration.
   */
  afterFollowUps?: () => void
}

export class CommitQueue {
  private open: Batch = { entries: [], changes: [], followUps: [] }
  /** When the open batch got its first entry (performance.now()). */
  private openedAt = 0
  private readonly waiting: Batch[] = []
  private compactions: Compaction[] = []
  private running = false
  private scheduled = false
  private retryDelay: number
  private retryTimer: NodeJS.Timeout | null = null
  private idleWaiters: Array<() => void> = []
  /** Consecutive failed appends (0 when the store is healthy). */
  failures = 0

  constructor(
    private readonly store: DocStore,
    private readonly log: Logger,
    private readonly options: CommitQueueOptions,
  ) {
    this.retryDelay = options.retryMinMs
  }

  /** Queues an update for the next group commit; `change` is told its id once durable. */
  append(room: string, update: Uint8Array, change?: QueuedChange): void {
    const now = performance.now()
    if (this.open.entries.length === 0) this.openedAt = now
    this.open.entries.push(
      change
        ? { room, update, change: { at: 0, author: change.author, delta: change.delta } }
        : { room, update },
    )
    this.open.changes.push(change)
    if (now - this.openedAt >= MAX_BATCH_MS && !this.running && !this.retryTimer) {
      // A long turn: commit what it accepted so far now (relayed once durable, as always).
      this.scheduled = false
      this.runSafely()
      return
    }
    this.schedule()
  }

  /** Runs `fn` once everything queued so far is committed: now, if nothing is pending. */
  afterCommit(fn: () => void): void {
    if (this.idle) {
      fn()
      return
    }
    this.open.followUps.push(fn)
    this.schedule()
  }

  /**
   * Replaces `room`'s snapshot and log with one snapshot. `start` is called when no append is in
   * flight (so every update appended so far is committed) and returns the snapshot to store, or
   * undefined to let the store merge what it holds. Resolves with the snapshot's size, or null if the
   * store failed (the log is kept).
   */
  compact(room: string, start: () => Uint8Array | undefined): Promise<number | null> {
    return new Promise((resolve) => {
      this.compactions.push({ room, start, resolve })
      this.schedule()
    })
  }

  /** True when nothing is queued or being written. */
  get idle(): boolean {
    return !this.running && this.waiting.length === 0 && this.open.entries.length === 0
  }

  /** Resolves once everything queued so far is committed (waits through retries). */
  drain(): Promise<void> {
    if (this.idle && this.open.followUps.length === 0 && this.compactions.length === 0)
      return Promise.resolve()
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve)
      this.flushNow()
    })
  }

  /** Skips the wait for the next turn (and for a retry timer); used on shutdown. */
  flushNow(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer)
      this.retryTimer = null
    }
    this.scheduled = false
    this.runSafely()
  }

  private async runCompactions(): Promise<void> {
    const jobs = this.compactions
    this.compactions = []
    for (const job of jobs) {
      const failed = (err: unknown) => {
        this.log.error({ err, room: job.room }, 'compaction failed; the update log is kept')
        job.resolve(null)
      }
      try {
        const started = performance.now()
        const snapshot = job.start()
        this.noteSlow('compaction start', started, job.room)
        const stored = this.store.compact(job.room, snapshot)
        // A snapshot from the document holds everything appended so far: appends wait for it to
        // replace the log. A merge by the store replaces only what it merged: appends go on.
        if (snapshot) job.resolve(await stored)
        else stored.then(job.resolve, failed)
      } catch (err) {
        failed(err)
      }
    }
  }

  /** Tells each change of a committed batch its id, in commit order. */
  private tellIds(batch: Batch, ids: readonly number[]): void {
    for (let i = 0; i < batch.changes.length; i++) {
      const change = batch.changes[i]
      if (!change) continue
      // A store that numbers nothing (0) breaks only the numbering, never the commit.
      const id = ids[i] ?? 0
      if (id === 0)
        this.log.error({ room: batch.entries[i].room }, 'the store returned no change id for an entry')
      try {
        change.committed(id, batch.entries[i].change!.at)
      } catch (err) {
        this.log.error({ err }, 'a committed change listener threw')
      }
    }
  }

  /** Tells `noteWork` about work since `started` that took 5 ms or more. */
  private noteSlow(kind: string, started: number, detail: string): void {
    const ms = performance.now() - started
    if (ms >= 5) this.options.noteWork?.(kind, ms, detail)
  }

  /** Runs the queue; an unexpected throw is logged, never left as an unhandled rejection. */
  private runSafely(): void {
    this.run().catch((err) => this.log.error({ err }, 'commit queue failed unexpectedly'))
  }

  private notifyFailing(failing: boolean): void {
    try {
      this.options.onFailingChange?.(failing)
    } catch (err) {
      this.log.error({ err }, 'storage state listener threw')
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.retryTimer) return
    this.scheduled = true
    setImmediate(() => {
      if (!this.scheduled) return
      this.scheduled = false
      this.runSafely()
    })
  }

  private async run(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      for (;;) {
        if (this.open.entries.length > 0 || this.open.followUps.length > 0) {
          this.waiting.push(this.open)
          this.open = { entries: [], changes: [], followUps: [] }
        }
        const batch = this.waiting[0]
        if (!batch) {
          if (this.compactions.length === 0) break
          await this.runCompactions()
          continue
        }
        let ids: number[] = []
        if (batch.entries.length > 0) {
          try {
            const started = performance.now()
            const at = Date.now()
            for (const entry of batch.entries) if (entry.change) entry.change.at = at
            const appended = this.store.append(batch.entries)
            this.noteSlow('store append', started, `${batch.entries.length} updates`)
            ids = await appended
            this.options.metrics?.storeCommitted((performance.now() - started) / 1000, batch.entries.length)
          } catch (err) {
            this.options.metrics?.storeFailed()
            this.failures++
            if (this.failures === 1) this.notifyFailing(true)
            this.log.error(
              { err, entries: batch.entries.length, attempt: this.failures, retryInMs: this.retryDelay },
              'store append failed; keeping the batch in memory and retrying',
            )
            this.retryTimer = setTimeout(() => {
              this.retryTimer = null
              this.runSafely()
            }, this.retryDelay)
            this.retryDelay = Math.min(this.retryDelay * 2, this.options.retryMaxMs)
            return
          }
          if (this.failures > 0) {
            this.log.info({ attempts: this.failures + 1 }, 'store append succeeded after retry')
            this.failures = 0
            this.notifyFailing(false)
          }
          this.retryDelay = this.options.retryMinMs
        }
        this.waiting.shift()
        this.tellIds(batch, ids)
        const started = performance.now()
        for (const fn of batch.followUps) {
          try {
            fn()
          } catch (err) {
            this.log.error({ err }, 'follow-up of a commit threw')
          }
        }
        try {
          this.options.afterFollowUps?.()
        } catch (err) {
          this.log.error({ err }, 'sending what a commit queued threw')
        }
        this.noteSlow('commit follow-ups', started, `${batch.followUps.length} (relays, replies)`)
      }
    } finally {
      this.running = false
    }
    if (this.idle && this.open.followUps.length === 0 && this.compactions.length === 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }
}
