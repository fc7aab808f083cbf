/** Storage backends behind the DocStore seam. */
import type { ServerConfig } from '../config.ts'
import type { DocStore } from './doc-store.ts'
import { MemoryStore } from './memory-store.ts'
import { WorkerSqliteStore } from './worker-store.ts'

export type { DocStore, LogEntry, SetAsideEntry, StoredPolicy, StoredRoom } from './doc-store.ts'
export { MemoryStore } from './memory-store.ts'
export { SqliteStore } from './sqlite-store.ts'
export { StoreOpenError } from './store-open-error.ts'
export { WorkerSqliteStore } from './worker-store.ts'

/** Opens the store the configuration asks for. */
export function openStore(config: ServerConfig): DocStore {
  if (config.store) return config.store
  return config.storage === 'memory'
    ? new MemoryStore()
    : new WorkerSqliteStore(config.db, config.sqliteSynchronous)
}
