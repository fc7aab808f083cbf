/** Storage backends behind the DocStore seam. */
import type { ChangeRetention, DocStore } from './doc-store.ts'
import { MemoryStore } from './memory-store.ts'
import { PostgresStore } from './postgres-store.ts'
import { SqliteStore, type SqliteSynchronous } from './sqlite-store.ts'

export type {
  ChangeInfo,
  ChangeRetention,
  ChangeStore,
  ChangesRead,
  ChangesReadOptions,
  DocStore,
  LogEntry,
  PolicyStore,
  Revocation,
  RevocationResult,
  SetAsideEntry,
  StoredChange,
  StoredPolicy,
  StoredRoom,
} from './doc-store.ts'
export { DEFAULT_CHANGE_RETENTION } from './doc-store.ts'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.ts'
export { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts'
export { SqliteStore, type SqliteStoreOptions, type SqliteSynchronous } from './sqlite-store.ts'
export { StoreOpenError } from './store-open-error.ts'

/** How often the SQLite background thread checkpoints the WAL. */
const CHECKPOINT_INTERVAL_MS = 1_000

const HOUR_MS = 60 * 60 * 1000

/** What `openStore` needs to know: which backend, where its data lives, how many changes it keeps. */
export interface OpenStoreOptions {
  /** 'sqlite' (embedded file), 'postgres' (with `databaseUrl`) or 'memory' (nothing kept). */
  storage: 'sqlite' | 'postgres' | 'memory'
  /** The SQLite file. */
  db: string
  sqliteSynchronous: SqliteSynchronous
  /** The PostgreSQL connection string, and the schema of Tandem's tables. */
  databaseUrl: string | null
  databaseSchema: string
  /** Each room keeps at least its last `feedKeepChanges` changes and those of its last `feedKeepHours`. */
  feedKeepChanges: number
  feedKeepHours: number
}

/** Opens the store the options ask for. */
export function openStore(config: OpenStoreOptions): DocStore {
  const changeRetention: ChangeRetention = {
    count: config.feedKeepChanges,
    ms: config.feedKeepHours * HOUR_MS,
  }
  if (config.storage === 'postgres' && config.databaseUrl) {
    return new PostgresStore(config.databaseUrl, { schema: config.databaseSchema, changeRetention })
  }
  return config.storage === 'memory'
    ? new MemoryStore({ changeRetention })
    : new SqliteStore(config.db, {
        synchronous: config.sqliteSynchronous,
        background: { checkpointIntervalMs: CHECKPOINT_INTERVAL_MS },
        changeRetention,
      })
}
