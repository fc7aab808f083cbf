/**
 * The SQLite store's background thread, seen from the relay's thread: a worker with its own
 * connection to the database (`sqlite-background-worker.ts`) that does the two jobs that must not run
 * on the event loop, while the relay's thread keeps its own connection for appends (a small commit
 * costs ~30 µs in-thread; through a worker round trip, with two thread wake-ups, ~100 µs):
 *
 * - WAL checkpoints: the relay's connection never checkpoints (`wal_autocheckpoint = 0`); the worker
 *   runs PASSIVE checkpoints every `checkpointIntervalMs`, which copy committed pages into the
 *   database file and fsync it without blocking a writer;
 * - log merges: `merge(room, upToSeq)` reads the room's snapshot and its log up to `upToSeq` on the
 *   worker's connection (WAL readers do not block the writer) and merges them with `Y.mergeUpdates`.
 *
 * Protocol (structured clone over the worker port):
 *
 *   ready    = { ready: true } | { failed: message }                      first, once
 *   request  = { id, op: 'merge', room, upToSeq } | { id, op: 'checkpoint' } | { id, op: 'close' }
 *   response = { id, result } | { id, error: message }                     result of merge: bytes
 *
 * A worker that dies (crash, out of memory) is replaced; its pending merges reject, which the relay
 * treats as a failed compaction (the log is kept). Appends never depend on it. One that dies within
 * a second of starting (it cannot open the database, its file is missing) is replaced after a
 * delay that doubles from 100 ms to 30 s, not at once in a loop that would take a whole core;
 * meanwhile requests wait for the next one.
 */
import { Worker } from 'node:worker_threads'
import { workerEntry } from './worker-entry.ts'

type WorkerMessage = { ready: true } | { failed: string } | { id: number; result?: unknown; error?: string }

export interface SqliteBackgroundOptions {
  checkpointIntervalMs: number
  /** The worker's entry file (tests: one that fails); default: sqlite-background-worker's. */
  entry?: URL
}

/** A worker that lived less than this died starting: it is replaced after a delay. */
const STARTUP_MS = 1_000
const FIRST_RESTART_DELAY_MS = 100
const MAX_RESTART_DELAY_MS = 30_000

export class SqliteBackground {
  private worker: Worker | null = null
  private spawnedAt = 0
  private restartDelayMs = 0
  private restartTimer: NodeJS.Timeout | null = null
  /** Requests made while no worker runs (waiting for a restart), sent to the next one. */
  private queued: Array<Record<string, unknown>> = []
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private nextId = 1
  private closed = false
  /** Workers started so far (1 + replacements). */
  generation = 0

  constructor(
    private readonly path: string,
    private readonly options: SqliteBackgroundOptions,
  ) {
    this.spawn()
  }

  /** The room's snapshot merged with its log entries up to `upToSeq`, checked to read back. */
  merge(room: string, upToSeq: number): Promise<Uint8Array> {
    return this.call({ op: 'merge', room, upToSeq })
  }

  /** Runs a PASSIVE checkpoint now; resolves with SQLite's [busy, log frames, checkpointed frames]. */
  checkpoint(): Promise<{ busy: number; log: number; checkpointed: number }> {
    return this.call({ op: 'checkpoint' })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.restartTimer) clearTimeout(this.restartTimer)
    if (!this.worker) {
      // Waiting to restart: what waits for the next worker is refused.
      this.queued = []
      this.rejectPending(new Error('the store is closed'))
      return
    }
    await this.call({ op: 'close' }, true).catch(() => {})
    await this.worker?.terminate()
  }

  /** Ends the worker as a crash would (fault injection for tests). */
  async crashForTest(): Promise<number> {
    return (await this.worker?.terminate()) ?? 0
  }

  private spawn(): void {
    this.generation++
    this.restartTimer = null
    this.spawnedAt = Date.now()
    const worker = new Worker(this.options.entry ?? workerEntry('sqlite-background', import.meta.url), {
      workerData: { path: this.path, checkpointIntervalMs: this.options.checkpointIntervalMs },
    })
    // The relay must not stay alive for its background thread.
    worker.unref()
    this.worker = worker
    worker.on('message', (message: WorkerMessage) => {
      if ('ready' in message || 'failed' in message) return
      const pending = this.pending.get(message.id)
      if (!pending) return
      this.pending.delete(message.id)
      if (message.error !== undefined) pending.reject(new Error(message.error))
      else pending.resolve(message.result)
    })
    const lost = (err: Error) => {
      if (this.worker !== worker) return
      this.worker = null
      this.rejectPending(err)
      if (this.closed) return
      const died = Date.now() - this.spawnedAt < STARTUP_MS
      this.restartDelayMs = died
        ? Math.min(MAX_RESTART_DELAY_MS, Math.max(FIRST_RESTART_DELAY_MS, this.restartDelayMs * 2))
        : 0
      if (this.restartDelayMs === 0) this.spawn()
      else {
        this.restartTimer = setTimeout(() => this.spawn(), this.restartDelayMs)
        this.restartTimer.unref()
      }
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`the SQLite background thread exited (code ${code})`)))
    for (const message of this.queued) worker.postMessage(message)
    this.queued = []
  }

  private rejectPending(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err)
    this.pending.clear()
  }

  private call<T>(request: Record<string, unknown>, evenIfClosed = false): Promise<T> {
    if (this.closed && !evenIfClosed) return Promise.reject(new Error('the store is closed'))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      if (this.worker) this.worker.postMessage({ id, ...request })
      else this.queued.push({ id, ...request })
    })
  }
}
