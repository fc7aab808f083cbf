/**
 * DocStore whose SQLite connection lives in a worker thread (`sqlite-worker.ts`): appends are
 * acknowledged by message once their transaction committed, so commit-before-relay holds as with
 * the in-thread `SqliteStore`, while the work itself (transactions, WAL checkpoints, merging a
 * room's log into its snapshot) runs beside the relay's event loop instead of on it.
 *
 * The worker opens the database as it starts: `ready` resolves then, or rejects with the same
 * StoreOpenError `SqliteStore` throws (the server's `listen()` waits for it). Requests made before
 * are queued in the worker's port and handled once it is open.
 */
import { Worker } from 'node:worker_threads'
import type { SqliteSynchronous } from '../config.ts'
import type { DocStore, LogEntry, SetAsideEntry, StoredPolicy, StoredRoom } from './doc-store.ts'
import { packEntries } from './packed-entries.ts'
import { StoreOpenError } from './store-open-error.ts'

type WorkerMessage =
  | { opened: true }
  | { openError: { reason: string; advice: string } }
  | { id: number; result?: unknown; error?: string }

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

export class WorkerSqliteStore implements DocStore {
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  /** Set when the database cannot be opened or the store was closed: every call rejects with it. */
  private failure: Error | null = null
  private worker!: Worker
  private closing = false
  /** Resolves once the worker has opened the database; rejects with a StoreOpenError if it cannot. */
  readonly ready: Promise<void>
  private opened!: () => void
  private notOpened!: (err: Error) => void

  constructor(
    readonly path: string,
    private readonly synchronous: SqliteSynchronous = 'NORMAL',
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.opened = resolve
      this.notOpened = reject
    })
    // Awaited by the server before it listens; never an unhandled rejection meanwhile.
    this.ready.catch(() => {})
    this.spawn()
  }

  /**
   * Starts a worker. If one dies unexpectedly (a crash, out of memory), its pending calls reject
   * (the commit queue keeps their updates and retries) and a new worker reopens the database.
   */
  private spawn(): void {
    const { url, execArgv } = workerEntry()
    const worker = new Worker(url, {
      workerData: { path: this.path, synchronous: this.synchronous },
      execArgv,
    })
    this.worker = worker
    worker.on('message', (message: WorkerMessage) => {
      if ('opened' in message) {
        this.opened()
        return
      }
      if ('openError' in message) {
        const { reason, advice } = message.openError
        const err = new StoreOpenError(this.path, reason, advice || 'check the file and restart')
        this.failure = err
        this.notOpened(err)
        void worker.terminate()
        return
      }
      const pending = this.pending.get(message.id)
      if (!pending) return
      this.pending.delete(message.id)
      if (message.error !== undefined) pending.reject(new Error(message.error))
      else pending.resolve(message.result)
    })
    const lost = (err: Error) => {
      if (this.worker !== worker) return
      this.notOpened(err)
      for (const pending of this.pending.values()) pending.reject(err)
      this.pending.clear()
      if (!this.closing && !this.failure) this.spawn()
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`the storage worker exited (code ${code})`)))
  }

  load(room: string): Promise<StoredRoom> {
    return this.call('load', [room])
  }

  append(entries: readonly LogEntry[]): Promise<void> {
    const packed = packEntries(entries)
    return this.call('append', [packed], [packed.bytes])
  }

  compact(room: string, snapshot?: Uint8Array): Promise<number> {
    return this.call('compact', snapshot ? [room, ownBytes(snapshot)] : [room])
  }

  setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void> {
    return this.call('setAside', [room, entries.map((e) => ({ data: ownBytes(e.data), reason: e.reason }))])
  }

  setAsideEntries(room: string): Promise<SetAsideEntry[]> {
    return this.call('setAsideEntries', [room])
  }

  loadPolicy(room: string): Promise<StoredPolicy | null> {
    return this.call('loadPolicy', [room])
  }

  savePolicy(room: string, policy: StoredPolicy): Promise<void> {
    return this.call('savePolicy', [room, policy])
  }

  async close(): Promise<void> {
    if (this.failure || this.closing) return
    this.closing = true
    await this.call('close', []).catch(() => {})
    await this.worker.terminate()
    this.failure = new Error('the store is closed')
  }

  /** Ends the worker as a crash would (fault injection for tests). */
  crashWorkerForTest(): Promise<number> {
    return this.worker.terminate()
  }

  private call<T>(op: keyof DocStore, args: unknown[], transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.worker.postMessage({ id, op, args }, transfer)
    })
  }
}

/** `bytes` itself if it spans its whole ArrayBuffer, else a copy that does (cheap to post). */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()
}

/**
 * The worker's entry file beside this module: from TypeScript source, `sqlite-worker-entry.mjs`
 * (which loads the worker module through tsx's API: a worker does not get the parent's tsx hooks on
 * every Node version and runner); beside a bundle, the bundled `sqlite-worker.mjs`.
 */
function workerEntry(): { url: URL; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts')
  const url = new URL(fromSource ? './sqlite-worker-entry.mjs' : './sqlite-worker.mjs', import.meta.url)
  return { url, execArgv: [] }
}
