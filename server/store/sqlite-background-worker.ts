/**
 * The SQLite store's background thread (see `sqlite-background.ts` for the protocol): its own
 * connection to the database, used for PASSIVE WAL checkpoints on a timer and for merging a room's
 * stored log without a `Y.Doc`. It never writes rows: the relay's thread is the only writer.
 */
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { mergeStoredRoom } from './merge-log.ts'

interface WorkerInput {
  path: string
  checkpointIntervalMs: number
}

type Request =
  | { id: number; op: 'merge'; room: string; upToSeq: number }
  | { id: number; op: 'checkpoint' }
  | { id: number; op: 'close' }

/**
 * After a PASSIVE checkpoint that left frames behind (written meanwhile), run another at once: the
 * writer restarts the WAL from its start only once every frame is checkpointed, so under steady
 * writes a single pass per tick would let the file grow without end.
 */
const CATCH_UP_PASSES = 4

const input = workerData as WorkerInput
const port = parentPort!
let db: Database.Database
try {
  // A writer holding its lock only delays a checkpoint's last step; wait a little for it.
  db = new Database(input.path, { timeout: 50 })
  port.postMessage({ ready: true })
} catch (err) {
  port.postMessage({ failed: err instanceof Error ? err.message : String(err) })
  process.exit(1)
}
const selectSnapshot = db.prepare('SELECT data FROM snapshots WHERE room = ?')
const selectUpdates = db.prepare('SELECT data FROM updates WHERE room = ? AND seq <= ? ORDER BY seq')

function checkpoint(): { busy: number; log: number; checkpointed: number } {
  let result = { busy: 0, log: 0, checkpointed: 0 }
  for (let pass = 0; pass < CATCH_UP_PASSES; pass++) {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{
      busy: number
      log: number
      checkpointed: number
    }>
    result = row
    if (row.busy || row.checkpointed >= row.log) break
  }
  return result
}

function merge(room: string, upToSeq: number): Uint8Array {
  // One read transaction: the snapshot and the log as of the same commit.
  return db.transaction(() => {
    const snapshot = selectSnapshot.get(room) as { data: Buffer } | undefined
    const rows = selectUpdates.all(room, upToSeq) as Array<{ data: Buffer }>
    return mergeStoredRoom({
      snapshot: snapshot ? snapshot.data : null,
      updates: rows.map((r) => r.data),
      logBytes: 0,
    })
  })()
}

const timer = setInterval(() => {
  try {
    checkpoint()
  } catch {
    // A failed checkpoint (disk full, busy) is retried on the next tick; the WAL keeps everything.
  }
}, input.checkpointIntervalMs)

port.on('message', (request: Request) => {
  try {
    switch (request.op) {
      case 'merge': {
        const merged = merge(request.room, request.upToSeq)
        const own =
          merged.byteOffset === 0 && merged.byteLength === merged.buffer.byteLength ? merged : merged.slice()
        port.postMessage({ id: request.id, result: own }, [own.buffer as ArrayBuffer])
        return
      }
      case 'checkpoint':
        port.postMessage({ id: request.id, result: checkpoint() })
        return
      case 'close':
        clearInterval(timer)
        try {
          checkpoint()
        } finally {
          db.close()
          port.postMessage({ id: request.id, result: null })
          port.close()
        }
        return
    }
  } catch (err) {
    port.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) })
  }
})
