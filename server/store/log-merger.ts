/**
 * Log merges off the event loop, for a store whose database has no thread of its own (PostgreSQL;
 * the SQLite store's background thread merges with its own connection). A 6.7 MB room takes
 * ~0.4 s to merge: on the relay's thread that is a stall for every room.
 *
 * One worker thread (`log-merger-worker.ts`), started at the first merge and kept until `close()`.
 * Protocol (structured clone over the worker port; the parts packed into one transferred buffer,
 * so thousands of small rows cost one copy, not one pooled buffer each):
 *
 *   request  = { id, op: 'merge', packed, lengths, hasSnapshot }        mergeStoredRoom
 *            | { id, op: 'withMissing', packed, lengths, snapshot }      withMissingParts
 *   response = { id, result: bytes, threadId } | { id, error: message }
 *
 * A worker that dies (crash, out of memory) fails the merges it had; the next merge starts a new one.
 * A failed merge is a failed compaction: the store keeps its log.
 */
import { Worker } from 'node:worker_threads'
import type { StoredRoom } from './doc-store.ts'
import { workerEntry } from './worker-entry.ts'

type Response = { id: number; result: Uint8Array; threadId: number } | { id: number; error: string }

interface Pending {
  resolve(merged: Uint8Array): void
  reject(err: Error): void
}

export class LogMerger {
  private worker: Worker | null = null
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false
  /** Merges the worker has answered, and the thread id that ran the last one (for tests and logs). */
  merges = 0
  lastThreadId: number | null = null

  /** Merges sent to the worker and not yet answered. */
  get running(): number {
    return this.pending.size
  }

  /** `mergeStoredRoom(stored)`, run in the worker. */
  merge(stored: Pick<StoredRoom, 'snapshot' | 'updates'>): Promise<Uint8Array> {
    const parts = stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates
    return this.call('merge', parts, { hasSnapshot: stored.snapshot !== null })
  }

  /** `withMissingParts(snapshot, parts)`, run in the worker (at once when there are no parts). */
  withMissingParts(snapshot: Uint8Array, parts: readonly Uint8Array[]): Promise<Uint8Array> {
    if (parts.length === 0) return Promise.resolve(snapshot)
    return this.call('withMissing', parts, { snapshot })
  }

  /** Stops the worker; merges still running reject. */
  async close(): Promise<void> {
    this.closed = true
    const worker = this.worker
    this.worker = null
    this.fail(new Error('the store is closed'))
    await worker?.terminate()
  }

  /** Ends the worker as a crash would (fault injection for tests). */
  async crashForTest(): Promise<void> {
    await this.worker?.terminate()
  }

  private call(
    op: string,
    parts: readonly Uint8Array[],
    extra: Record<string, unknown>,
  ): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    const lengths = parts.map((part) => part.byteLength)
    const packed = new Uint8Array(lengths.reduce((sum, length) => sum + length, 0))
    let offset = 0
    for (const part of parts) {
      packed.set(part, offset)
      offset += part.byteLength
    }
    const id = this.nextId++
    const worker = this.ensureWorker()
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      worker.postMessage({ id, op, packed: packed.buffer, lengths, ...extra }, [packed.buffer])
    })
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(workerEntry('log-merger', import.meta.url))
    // The relay must not stay alive for this thread; a pending merge's transaction keeps it alive.
    worker.unref()
    this.worker = worker
    worker.on('message', (message: Response) => {
      const pending = this.pending.get(message.id)
      if (!pending) return
      this.pending.delete(message.id)
      if ('error' in message) return pending.reject(new Error(`merging the log failed: ${message.error}`))
      this.merges++
      this.lastThreadId = message.threadId
      pending.resolve(message.result)
    })
    const lost = (err: Error) => {
      if (this.worker !== worker) return
      this.worker = null
      this.fail(err)
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`the log merge thread exited (code ${code})`)))
    return worker
  }

  private fail(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err)
    this.pending.clear()
  }
}
