/**
 * Server configuration: one defaults object, merged with a partial config. Contradictory or
 * out-of-range options throw at construction. Environment variables and flags are read only in
 * `main.ts`.
 */
import type { Logger } from 'pino'
import type { DocStore, SqliteSynchronous } from '../store/index.ts'

export type StorageKind = 'sqlite' | 'memory' | 'postgres'

export type { SqliteSynchronous }

export interface ServerConfig {
  /** TCP port; 0 picks a free one (see `listen()`'s result). */
  port: number
  host: string
  /**
   * Where documents live: embedded SQLite (default), PostgreSQL (chosen when `databaseUrl` is set;
   * several instances may share it) or nowhere (memory; for benchmarks and tests).
   */
  storage: StorageKind
  /** SQLite database file (storage 'sqlite'). */
  db: string
  /** PostgreSQL connection string (postgres://user:password@host:port/db) for storage 'postgres'. */
  databaseUrl: string | null
  /** PostgreSQL schema holding Tandem's tables (created if missing). */
  databaseSchema: string
  sqliteSynchronous: SqliteSynchronous
  /**
   * Redis connection string (redis://[:password@]host:port[/db]): set, updates and presence fan out
   * to the other instances sharing the store (PostgreSQL) through Redis pub/sub.
   */
  redisUrl: string | null
  /** Prefix of Tandem's Redis channel names (several deployments can share one Redis). */
  redisPrefix: string
  /**
   * Largest accepted WebSocket frame in bytes; larger frames close the connection with 1009. At
   * least `maxDocumentBytes` (plus framing), so offline work up to the quota can always sync.
   */
  maxPayload: number
  /**
   * Quota on what a room costs: its stored size (snapshot plus log) plus 210 bytes of memory per
   * struct its document holds (see STRUCT_MEMORY in room.ts); updates past it are refused with 4413.
   */
  maxDocumentBytes: number
  /** New client ids one update may introduce. */
  maxUpdateClients: number
  /** Client ids a room's document may hold (each is a state-vector entry sent to every joiner). */
  maxRoomClients: number
  /** Subdocuments one update may create, and a room may hold. */
  maxUpdateSubdocs: number
  maxRoomSubdocs: number
  /** Named top-level types a room's document may hold. */
  maxRootTypes: number
  /**
   * Work one update may cost to apply, in nanoseconds as priced by update-admission.ts (structs
   * decoded and created, bytes, delete walks, item splits, conflict walks): past it, 4413.
   */
  maxUpdateWork: number
  /** Deepest nesting of JSON / lib0 values in document content and awareness states. */
  maxJsonDepth: number
  /** Largest awareness state (JSON bytes) and awareness message. */
  maxAwarenessStateBytes: number
  maxAwarenessMessageBytes: number
  /** Awareness client ids one connection may introduce. */
  maxAwarenessClientsPerConnection: number
  /** Awareness messages per second a connection may send, sustained, and in a burst. */
  awarenessMessagesPerSecond: number
  awarenessBurst: number
  /** A connection whose unsent output passes this many bytes is dropped (it is not reading). */
  maxBufferedBytes: number
  /** Document messages (sync step 2, update) per second a connection may send, sustained and in a burst. */
  documentMessagesPerSecond: number
  documentMessageBurst: number
  /**
   * Document bytes per second a connection may send, sustained and in a burst. The burst is at
   * least `maxPayload` (default: equal), so one frame of offline work always passes.
   */
  documentBytesPerSecond: number
  documentByteBurst: number
  /** HMAC secret for room tokens (HS256, at least 32 characters); null leaves rooms open to anyone with the URL. */
  authSecret: string | null
  /** Base URL for the links the API returns (e.g. https://tandem.example); null: from the request's Host. */
  publicUrl: string | null
  /** Lifetime of a link minted through the API when none is asked for, and the longest accepted. */
  defaultLinkTtlSeconds: number
  maxLinkTtlSeconds: number
  /** Origins browsers may connect (and call the API) from, e.g. https://tandem.example; null: any. */
  allowedOrigins: string[] | null
  /** Behind a trusted proxy: the client address is X-Forwarded-For's first entry (for per-IP limits). */
  trustProxy: boolean
  /** Open WebSocket connections per client address, and in total. */
  maxConnectionsPerIp: number
  maxConnections: number
  /** Rooms in memory; an upgrade to a room not loaded past this gets 503. */
  maxRoomsLoaded: number
  /** Live revocations one room may hold; past it `POST …/revoke` answers 409 `revocations_full`. */
  maxRevocationsPerRoom: number
  /**
   * Admin API requests (links, revoke, mode) per minute, sustained and in a burst, allowed per room
   * and per client address (each its own bucket); past it 429 `rate_limited` with Retry-After.
   */
  adminRequestsPerMinute: number
  adminRequestBurst: number
  /** `POST /api/rooms` per minute per client address, sustained and in a burst; past it 429. */
  roomCreationsPerMinute: number
  roomCreationBurst: number
  /**
   * Open TCP connections not (yet) WebSockets: requests, keep-alive sockets, upgrades whose headers
   * have not arrived. Past it a new socket is closed at once. With `maxConnections` it bounds the
   * sockets (file descriptors) the server holds: at most `maxConnections + maxHttpConnections`.
   */
  maxHttpConnections: number
  /** The same per client address (the socket's peer; not applied with `trustProxy`, where it is the proxy). */
  maxHttpConnectionsPerIp: number
  /** An idle keep-alive HTTP socket is closed after this many ms. */
  keepAliveTimeoutMs: number
  /** A connection that sends no sync message within this many ms is closed (4508). */
  syncDeadlineMs: number
  /** HTTP: time to receive a request's headers, and the whole request (against slow clients). */
  headersTimeoutMs: number
  requestTimeoutMs: number
  /** Log an event-loop stall of at least this many ms, with what ran around it (0 = off). */
  stallWarnMs: number
  /**
   * A second HTTP listener for monitoring (`/metrics`, `/health` with details, `/ready`); set, the
   * public port serves no `/metrics` and only `{status}` at `/health`. Null: no second listener.
   */
  monitorPort: number | null
  /** Address the monitoring listener binds (loopback unless told otherwise). */
  monitorHost: string
  /**
   * Set, `/metrics` and the details of `/health` need `Authorization: Bearer <token>` (at least 16
   * characters); other callers get 401 from `/metrics` and only `{status}` from `/health`.
   */
  monitorToken: string | null
  /** Interval between pings; a peer that has not answered the previous ping is terminated. */
  heartbeatMs: number
  /** How long a room without connections stays loaded before it is flushed and unloaded. */
  roomUnloadDelayMs: number
  /** Compact a room's update log into its snapshot once it holds this many updates... */
  compactAfterUpdates: number
  /** ...or this many bytes. */
  compactAfterBytes: number
  /**
   * A room whose document is at most this big compacts by encoding its document on the event loop
   * (a few ms up to ~1 MiB: much cheaper than merging the log, and the store's work is one write);
   * a bigger one lets the store merge its log off the event loop (the SQLite worker).
   */
  compactFromDocumentMaxBytes: number
  /** First and longest delay between retries of a failed store write. */
  storeRetryMinMs: number
  storeRetryMaxMs: number
  /** Directory of the built browser client to serve over HTTP, or null to serve none. */
  staticDir: string | null
  logLevel: string
  /** A pino logger to use instead of creating one (tests pass a silent one). */
  logger: Logger | null
  /** A DocStore instance to use instead of opening one from `storage` (custom backends, fault injection). */
  store: DocStore | null
}

export const defaultConfig: Readonly<ServerConfig> = Object.freeze({
  port: 1234,
  host: '0.0.0.0',
  storage: 'sqlite',
  db: './data/tandem.db',
  databaseUrl: null,
  databaseSchema: 'public',
  redisUrl: null,
  redisPrefix: 'tandem:',
  sqliteSynchronous: 'NORMAL',
  maxPayload: 32 * 1024 * 1024 + 1024,
  maxDocumentBytes: 32 * 1024 * 1024,
  maxUpdateClients: 1_000,
  maxRoomClients: 50_000,
  maxUpdateSubdocs: 100,
  maxRoomSubdocs: 1_000,
  maxRootTypes: 256,
  maxUpdateWork: 50_000_000,
  maxJsonDepth: 64,
  maxAwarenessStateBytes: 8 * 1024,
  maxAwarenessMessageBytes: 256 * 1024,
  maxAwarenessClientsPerConnection: 8,
  awarenessMessagesPerSecond: 50,
  awarenessBurst: 100,
  maxBufferedBytes: 64 * 1024 * 1024,
  documentMessagesPerSecond: 200,
  documentMessageBurst: 400,
  documentBytesPerSecond: 2 * 1024 * 1024,
  documentByteBurst: 32 * 1024 * 1024 + 1024,
  authSecret: null,
  publicUrl: null,
  defaultLinkTtlSeconds: 7 * 86_400,
  maxLinkTtlSeconds: 365 * 86_400,
  allowedOrigins: null,
  trustProxy: false,
  maxConnectionsPerIp: 100,
  maxConnections: 10_000,
  maxRoomsLoaded: 10_000,
  maxRevocationsPerRoom: 1_000,
  adminRequestsPerMinute: 60,
  adminRequestBurst: 30,
  roomCreationsPerMinute: 30,
  roomCreationBurst: 10,
  maxHttpConnections: 1_000,
  maxHttpConnectionsPerIp: 128,
  keepAliveTimeoutMs: 5_000,
  syncDeadlineMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  stallWarnMs: 50,
  monitorPort: null,
  monitorHost: '127.0.0.1',
  monitorToken: null,
  heartbeatMs: 30_000,
  roomUnloadDelayMs: 2_000,
  compactAfterUpdates: 1_000,
  compactAfterBytes: 4 * 1024 * 1024,
  compactFromDocumentMaxBytes: 1024 * 1024,
  storeRetryMinMs: 100,
  storeRetryMaxMs: 5_000,
  staticDir: null,
  logLevel: 'info',
  logger: null,
  store: null,
})

/** Bytes a sync message adds around an update (type, sub-type, length varUints), rounded up. */
const FRAME_OVERHEAD = 1024

/** Merges `partial` over the defaults and validates the result; throws a TypeError on bad options. */
export function resolveConfig(partial: Partial<ServerConfig> = {}): ServerConfig {
  for (const key of Object.keys(partial)) {
    if (!(key in defaultConfig)) throw new TypeError(`unknown server option "${key}"`)
  }
  const config: ServerConfig = { ...defaultConfig, ...partial }
  if (partial.databaseUrl && partial.storage === undefined) config.storage = 'postgres'
  const positive = (key: keyof ServerConfig) => {
    const value = config[key]
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new TypeError(`option "${key}" must be a positive number, got ${String(value)}`)
    }
  }
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    throw new TypeError(`option "port" must be an integer 0-65535, got ${config.port}`)
  }
  for (const key of [
    'maxPayload',
    'maxDocumentBytes',
    'maxUpdateClients',
    'maxRoomClients',
    'maxUpdateSubdocs',
    'maxRoomSubdocs',
    'maxRootTypes',
    'maxUpdateWork',
    'maxJsonDepth',
    'maxAwarenessStateBytes',
    'maxAwarenessMessageBytes',
    'maxAwarenessClientsPerConnection',
    'awarenessMessagesPerSecond',
    'awarenessBurst',
    'maxBufferedBytes',
    'documentMessagesPerSecond',
    'documentMessageBurst',
    'documentBytesPerSecond',
    'documentByteBurst',
    'defaultLinkTtlSeconds',
    'maxLinkTtlSeconds',
    'maxConnectionsPerIp',
    'maxConnections',
    'maxRoomsLoaded',
    'maxRevocationsPerRoom',
    'adminRequestsPerMinute',
    'adminRequestBurst',
    'roomCreationsPerMinute',
    'roomCreationBurst',
    'maxHttpConnections',
    'maxHttpConnectionsPerIp',
    'keepAliveTimeoutMs',
    'syncDeadlineMs',
    'headersTimeoutMs',
    'requestTimeoutMs',
    'heartbeatMs',
    'compactAfterUpdates',
    'compactAfterBytes',
    'compactFromDocumentMaxBytes',
    'storeRetryMinMs',
    'storeRetryMaxMs',
  ] as const) {
    positive(key)
  }
  if (partial.maxDocumentBytes !== undefined && partial.maxPayload === undefined) {
    config.maxPayload = config.maxDocumentBytes + FRAME_OVERHEAD
  }
  if (config.maxPayload < config.maxDocumentBytes + FRAME_OVERHEAD) {
    throw new TypeError(
      `option "maxPayload" (${config.maxPayload}) must be at least "maxDocumentBytes" + ${FRAME_OVERHEAD}: ` +
        'a smaller frame limit would strand offline work that fits the quota',
    )
  }
  if (partial.documentByteBurst === undefined) config.documentByteBurst = config.maxPayload
  if (config.documentByteBurst < config.maxPayload) {
    throw new TypeError(
      `option "documentByteBurst" (${config.documentByteBurst}) must be at least "maxPayload" ` +
        `(${config.maxPayload}): a smaller burst would refuse every frame of that size`,
    )
  }
  if (
    config.authSecret !== null &&
    (typeof config.authSecret !== 'string' || config.authSecret.length < 32)
  ) {
    throw new TypeError('option "authSecret" must be a string of at least 32 characters (or null)')
  }
  if (config.maxLinkTtlSeconds < config.defaultLinkTtlSeconds) {
    throw new TypeError('option "maxLinkTtlSeconds" must be >= "defaultLinkTtlSeconds"')
  }
  if (config.publicUrl !== null && !/^https?:\/\/[^/]+\/?$/.test(config.publicUrl)) {
    throw new TypeError(
      `option "publicUrl" must be an http(s) origin such as https://tandem.example, got "${config.publicUrl}"`,
    )
  }
  if (config.allowedOrigins !== null) {
    if (!Array.isArray(config.allowedOrigins) || config.allowedOrigins.length === 0) {
      throw new TypeError('option "allowedOrigins" must be a non-empty list of origins (or null)')
    }
    for (const origin of config.allowedOrigins) {
      if (!/^https?:\/\/[^/]+$/.test(origin)) {
        throw new TypeError(
          `option "allowedOrigins": "${origin}" is not an origin such as https://tandem.example`,
        )
      }
    }
  }
  if (config.requestTimeoutMs < config.headersTimeoutMs) {
    throw new TypeError('option "requestTimeoutMs" must be >= "headersTimeoutMs"')
  }
  if (config.maxAwarenessMessageBytes < config.maxAwarenessStateBytes) {
    throw new TypeError('option "maxAwarenessMessageBytes" must be >= "maxAwarenessStateBytes"')
  }
  if (partial.maxHttpConnectionsPerIp === undefined) {
    config.maxHttpConnectionsPerIp = Math.min(config.maxHttpConnectionsPerIp, config.maxHttpConnections)
  }
  if (config.maxHttpConnectionsPerIp > config.maxHttpConnections) {
    throw new TypeError('option "maxHttpConnectionsPerIp" must be <= "maxHttpConnections"')
  }
  if (config.monitorPort !== null) {
    if (!Number.isInteger(config.monitorPort) || config.monitorPort < 0 || config.monitorPort > 65535) {
      throw new TypeError(
        `option "monitorPort" must be an integer 0-65535 (or null), got ${config.monitorPort}`,
      )
    }
    if (config.monitorPort !== 0 && config.monitorPort === config.port) {
      throw new TypeError(
        'options "monitorPort" and "port" must differ: monitoring is kept off the public port',
      )
    }
  }
  if (typeof config.monitorHost !== 'string' || config.monitorHost === '') {
    throw new TypeError('option "monitorHost" must be an address such as 127.0.0.1')
  }
  if (
    config.monitorToken !== null &&
    (typeof config.monitorToken !== 'string' || config.monitorToken.length < 16)
  ) {
    throw new TypeError('option "monitorToken" must be a string of at least 16 characters (or null)')
  }
  if (!(config.stallWarnMs >= 0)) throw new TypeError('option "stallWarnMs" must be >= 0')
  if (config.roomUnloadDelayMs < 0) throw new TypeError('option "roomUnloadDelayMs" must be >= 0')
  if (config.storeRetryMaxMs < config.storeRetryMinMs) {
    throw new TypeError('option "storeRetryMaxMs" must be >= "storeRetryMinMs"')
  }
  if (config.storage !== 'sqlite' && config.storage !== 'memory' && config.storage !== 'postgres') {
    throw new TypeError(
      `option "storage" must be "sqlite", "memory" or "postgres", got ${String(config.storage)}`,
    )
  }
  if (config.storage === 'postgres' && !config.databaseUrl) {
    throw new TypeError('option "storage: postgres" needs "databaseUrl"')
  }
  if (config.storage !== 'postgres' && config.databaseUrl) {
    throw new TypeError(`options "storage: ${config.storage}" and "databaseUrl" contradict each other`)
  }
  if (config.storage === 'postgres' && partial.db !== undefined) {
    throw new TypeError('options "databaseUrl" (PostgreSQL) and "db" (SQLite) contradict each other')
  }
  if (config.storage === 'memory' && partial.db !== undefined) {
    throw new TypeError('options "storage: memory" and "db" contradict each other')
  }
  if (partial.store && (partial.storage !== undefined || partial.db !== undefined || partial.databaseUrl)) {
    throw new TypeError('option "store" replaces "storage", "db" and "databaseUrl"; pass only one')
  }
  if (
    typeof config.databaseSchema !== 'string' ||
    !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(config.databaseSchema)
  ) {
    throw new TypeError(
      'option "databaseSchema" must be a plain identifier (letters, digits, _), e.g. public',
    )
  }
  if (config.redisUrl !== null) {
    if (typeof config.redisUrl !== 'string' || !/^rediss?:\/\//.test(config.redisUrl)) {
      throw new TypeError('option "redisUrl" must be a redis:// or rediss:// URL (or null)')
    }
    // Instances that fan out to each other must load rooms from one store, or a room opened on
    // one would lack what was written on another.
    if (config.storage !== 'postgres' && !config.store) {
      throw new TypeError(
        `option "redisUrl" needs a store shared by every instance ("databaseUrl", PostgreSQL); storage is "${config.storage}"`,
      )
    }
  }
  if (typeof config.redisPrefix !== 'string' || config.redisPrefix.length > 100) {
    throw new TypeError('option "redisPrefix" must be a string of at most 100 characters')
  }
  if (config.sqliteSynchronous !== 'NORMAL' && config.sqliteSynchronous !== 'FULL') {
    throw new TypeError('option "sqliteSynchronous" must be "NORMAL" or "FULL"')
  }
  return config
}
