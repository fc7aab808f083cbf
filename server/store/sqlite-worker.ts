/**
 * The SQLite worker thread: owns the database connection (a `SqliteStore`) so that commits, WAL
 * checkpoints and compactions never run on the relay's event loop. Protocol with
 * `WorkerSqliteStore` (structured-clone messages over the worker port):
 *
 *   opened     = { opened: true } | { openError: { reason, advice } }   first, once
 *   request    = { id, op: 'load' | 'append' | 'compact' | 'setAside' | 'setAsideEntries' | 'loadPolicy'
 *                       | 'savePolicy' | 'close', args }
 *   response   = { id, result } | { id, error: message }
 *
 * Requests are handled one at a time in arrival order, so an append acknowledged before a compaction
 * was requested is in the snapshot that compaction writes.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { SqliteSynchronous } from '../config.ts'
import type { DocStore } from './doc-store.ts'
import { type PackedEntries, unpackEntries } from './packed-entries.ts'
import { SqliteStore } from './sqlite-store.ts'
import { StoreOpenError } from './store-open-error.ts'

interface WorkerInput {
  path: string
  synchronous: SqliteSynchronous
}

type Request = { id: number; op: Exclude<keyof DocStore, 'ready'>; args: unknown[] }

const input = workerData as WorkerInput
let store: SqliteStore | null = null
try {
  store = new SqliteStore(input.path, input.synchronous)
  parentPort!.postMessage({ opened: true })
} catch (err) {
  const openError =
    err instanceof StoreOpenError
      ? { reason: err.reason, advice: err.advice }
      : { reason: err instanceof Error ? err.message : String(err), advice: '' }
  parentPort!.postMessage({ openError })
}

let queue = Promise.resolve()
if (store) {
  const open = store
  parentPort!.on('message', (request: Request) => {
    queue = queue.then(() => handle(open, request))
  })
}

async function handle(open: SqliteStore, { id, op, args }: Request): Promise<void> {
  try {
    const input = op === 'append' ? [unpackEntries(args[0] as PackedEntries)] : args
    const result = await (open[op] as (...a: unknown[]) => Promise<unknown>).apply(open, input)
    parentPort!.postMessage({ id, result })
    if (op === 'close') parentPort!.close()
  } catch (err) {
    parentPort!.postMessage({ id, error: err instanceof Error ? err.message : String(err) })
  }
}
