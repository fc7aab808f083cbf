/** Storage backends behind the DocStore seam. */
import type { DocStore } from './doc-store.ts'
import { MemoryStore } from './memory-store.ts'
import { PostgresStore } from './postgres-store.ts'
import { SqliteStore, type SqliteSynchronous } from './sqlite-store.ts'

export type {
  DocStore,
  LogEntry,
  PolicyStore,
  Revocation,
  RevocationResult,
  SetAsideEntry,
  StoredPolicy,
  StoredRoom,
} from './doc-store.ts'
export { MemoryStore } from './memory-store.ts'
export { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts'
export { SqliteStore, type SqliteStoreOptions, type SqliteSynchronous } from './sqlite-store.ts'
export { StoreOpenError } from './store-open-error.ts'

/** How often the SQLite background thread checkpoints the WAL. */
const CHECKPOINT_INTERVAL_MS = 1_000

/** What `openStore` needs to know: which backend, and where its data lives. */
export interface OpenStoreOptions {
  /** 'sqlite' (embedded file), 'postgres' (with `databaseUrl`) or 'memory' (nothing kept). */
  storage: 'sqlite' | 'postgres' | 'memory'
  /** The SQLite file. */
  db: string
  sqliteSynchronous: SqliteSynchronous
  /** The PostgreSQL connection string, and the schema of Tandem's tables. */
  databaseUrl: string | null
  databaseSchema: string
}

/** Opens the store the options ask for. */
export function openStore(config: OpenStoreOptions): DocStore {
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
