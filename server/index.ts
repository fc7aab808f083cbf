/** Public surface of the Tandem server when used as a library. */

export { PeerError } from './admission/peer-error.ts'
export {
  defaultConfig,
  resolveConfig,
  type ServerConfig,
  type SqliteSynchronous,
  type StorageKind,
} from './config/config.ts'
export { createServer, type ServerHooks, type TandemServer } from './server.ts'
export {
  type DocStore,
  type LogEntry,
  MemoryStore,
  PostgresStore,
  type SetAsideEntry,
  SqliteStore,
  type StoredRoom,
  StoreOpenError,
} from './store/index.ts'
