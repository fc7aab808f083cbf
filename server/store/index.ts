/** Storage backends behind the DocStore seam. */
import type { ServerConfig } from '../config.ts'
import type { DocStore } from './doc-store.ts'
import { MemoryStore } from './memory-store.ts'
import { PostgresStore } from './postgres-store.ts'
import { SqliteStore } from './sqlite-store.ts'

export type {
  DocStore,
  LogEntry,
  Revocation,
  RevocationResult,
  SetAsideEntry,
  StoredPolicy,
  StoredRoom,
} from './doc-store.ts'
export { MemoryStore } from './memory-store.ts'
export { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts'
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts'
export { StoreOpenError } from './store-open-error.ts'

/** How often the SQLite background thread checkpoints the WAL. */
const CHECKPOINT_INTERVAL_MS = 1_000

/** Opens the store the configuration asks for. */
export function openStore(config: ServerConfig): DocStore {
  if (config.store) return config.store
  if (config.storage === 'postgres' && config.databaseUrl) {
    return new PostgresStore(config.databaseUrl, { schema: config.databaseSchema })
  }
  return config.storage === 'memory'
    ? new MemoryStore()
    : new SqliteStore(config.db, {
        synchronous: config.sqliteSynchronous,
        background: { checkpointIntervalMs: CHECKPOINT_INTERVAL_MS },
      })
}
