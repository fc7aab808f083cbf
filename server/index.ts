/**
 * Public surface of the Tandem server when used as a library: `createServer` and what its options,
 * hooks and result name, the storage backends behind the DocStore seam, and the errors a caller may
 * meet. Internals (rooms, connections, the bus) are exported as types only, for what `TandemServer`
 * exposes; they are not constructed from outside.
 */

export { PeerError } from './admission/peer-error.ts'
export {
  defaultConfig,
  resolveConfig,
  type ServerConfig,
  type SqliteSynchronous,
  type StorageKind,
} from './config/config.ts'
export type { RoomBus } from './fanout/room-bus.ts'
export type { Room } from './rooms/room.ts'
export type { RoomRegistry } from './rooms/room-registry.ts'
export { createServer, type ServerHooks, type TandemServer } from './server.ts'
export {
  type ChangeInfo,
  type ChangeRetention,
  type ChangeStore,
  type ChangesRead,
  type ChangesReadOptions,
  DEFAULT_CHANGE_RETENTION,
  type DocStore,
  type LogEntry,
  MemoryStore,
  type MemoryStoreOptions,
  type PolicyStore,
  PostgresStore,
  type PostgresStoreOptions,
  type Revocation,
  type RevocationResult,
  type SetAsideEntry,
  SqliteStore,
  type SqliteStoreOptions,
  type StoredChange,
  type StoredPolicy,
  type StoredRoom,
  StoreOpenError,
} from './store/index.ts'
export type { Access } from './ws/connection.ts'
export type { AccessGrant, AuthDecision, Authenticate, GrantToken } from './ws/upgrade.ts'
