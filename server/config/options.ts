/**
 * Every server option, declared once: its default (whose type is the option's type), a one-line
 * meaning, what a value may be, and, for options a deployer sets, its flag, environment variable and
 * how their text is read. `ServerConfig` and `defaultConfig` are derived from this table; so are the
 * checks of single values in `resolveConfig`, the command line (cli.ts), `--help` and the README's
 * table of options. Options without `cli` are for library use only (`createServer(config)`).
 */
import type { Logger } from 'pino'
import type { DocStore, SqliteSynchronous } from '../store/index.ts'
import {
  atLeastZero,
  type Check,
  duration,
  flag,
  matching,
  number,
  oneOf,
  originList,
  origins,
  orNull,
  type Parse,
  port,
  positive,
  secret,
  text,
  textOrUnset,
} from './values.ts'

export type StorageKind = 'sqlite' | 'memory' | 'postgres'

/** How the command line sets an option. */
export interface CommandLineOption<T> {
  /** The flag, without `--`. */
  readonly flag: string
  readonly env: string
  readonly parse: Parse<T>
  /** The text read when neither flag nor variable is given, if the command line has its own default. */
  readonly fallback?: string
}

export interface Option<T> {
  /** The value when none is given (`defaultConfig`). */
  readonly default: T
  /** The default as `--help` and the README say it, when the value alone does not say it. */
  readonly shown?: string | ((value: T) => string)
  /** One line: what the option means. */
  readonly doc: string
  /** What a value may be (checked by `resolveConfig`; cross-option rules live there). */
  readonly check?: Check<T>
  /** Absent: a library option only. */
  readonly cli?: CommandLineOption<NoInfer<T>>
  /** The block of `--help` and of the README it is listed in (set by `section`). */
  readonly section?: string
}

function option<T>(spec: Option<T>): Option<T> {
  return spec
}

/** Options listed together under `title`. */
function section<O extends Record<string, Option<any>>>(title: string, options: O): O {
  return Object.fromEntries(
    Object.entries(options).map(([name, spec]) => [name, { ...spec, section: title }]),
  ) as O
}

const KiB = 1024
const MiB = 1024 * KiB
const DAY = 86_400
const inDays = (seconds: number): string => `${seconds / DAY}d`

export const OPTIONS = {
  ...section('Listening and HTTP', {
    port: option({
      default: 1234,
      check: port,
      doc: 'TCP port (0 = any free port)',
      cli: { flag: 'port', env: 'PORT', parse: number },
    }),
    host: option({
      default: '0.0.0.0',
      doc: 'address to bind',
      cli: { flag: 'host', env: 'HOST', parse: text },
    }),
    staticDir: option<string | null>({
      default: null,
      shown: 'client/dist (library: none)',
      doc: 'built browser client to serve ("" = none)',
      cli: {
        flag: 'static-dir',
        env: 'TANDEM_STATIC_DIR',
        parse: (dir) => (dir === '' ? null : dir),
        fallback: 'client/dist',
      },
    }),
    trustProxy: option({
      default: false,
      doc: 'true: the client address is the first of X-Forwarded-For (per-IP limits); for a trusted proxy',
      cli: { flag: 'trust-proxy', env: 'TANDEM_TRUST_PROXY', parse: flag },
    }),
    /**
     * Open TCP connections not (yet) WebSockets: requests, keep-alive sockets, upgrades whose headers
     * have not arrived. With `maxConnections` it bounds the sockets (file descriptors) the server
     * holds: at most `maxConnections + maxHttpConnections`; keep `ulimit -n` above that.
     */
    maxHttpConnections: option({
      default: 1_000,
      check: positive,
      doc: 'open plain HTTP sockets in total (not yet WebSockets; closed at once past it); keep ulimit -n above this + max-connections',
      cli: { flag: 'max-http-connections', env: 'TANDEM_MAX_HTTP_CONNECTIONS', parse: number },
    }),
    maxHttpConnectionsPerIp: option({
      default: 128,
      check: positive,
      doc: 'open plain HTTP sockets per client address (not applied with trust-proxy)',
      cli: { flag: 'max-http-per-ip', env: 'TANDEM_MAX_HTTP_PER_IP', parse: number },
    }),
    keepAliveTimeoutMs: option({
      default: 5_000,
      check: positive,
      doc: 'an idle keep-alive HTTP socket is closed after this long',
      cli: { flag: 'keep-alive-timeout-ms', env: 'TANDEM_KEEP_ALIVE_TIMEOUT_MS', parse: number },
    }),
    headersTimeoutMs: option({
      default: 10_000,
      check: positive,
      doc: "time a client has to send an HTTP request's headers",
      cli: { flag: 'headers-timeout-ms', env: 'TANDEM_HEADERS_TIMEOUT_MS', parse: number },
    }),
    requestTimeoutMs: option({
      default: 30_000,
      check: positive,
      doc: 'time a client has to send a whole HTTP request (at least the headers timeout)',
      cli: { flag: 'request-timeout-ms', env: 'TANDEM_REQUEST_TIMEOUT_MS', parse: number },
    }),
  }),

  ...section('Storage', {
    storage: option<StorageKind>({
      default: 'sqlite',
      shown: 'postgres with DATABASE_URL, else sqlite',
      check: oneOf('sqlite', 'memory', 'postgres'),
      doc: 'sqlite, postgres or memory (memory keeps nothing across restarts)',
      cli: { flag: 'storage', env: 'TANDEM_STORAGE', parse: (kind) => kind as StorageKind },
    }),
    db: option({
      default: './data/tandem.db',
      doc: 'SQLite database file (ignored with memory or PostgreSQL)',
      cli: { flag: 'db', env: 'TANDEM_DB', parse: text },
    }),
    sqliteSynchronous: option<SqliteSynchronous>({
      default: 'NORMAL',
      check: oneOf('NORMAL', 'FULL'),
      doc: 'NORMAL (survives process crashes) or FULL (also power loss)',
      cli: {
        flag: 'sqlite-sync',
        env: 'TANDEM_SQLITE_SYNC',
        parse: (mode) => mode.toUpperCase() as SqliteSynchronous,
      },
    }),
    databaseUrl: option<string | null>({
      default: null,
      doc: 'PostgreSQL connection string (postgres://user:password@host:5432/db); set, documents live there and several instances may share it',
      cli: { flag: 'database-url', env: 'DATABASE_URL', parse: textOrUnset },
    }),
    databaseSchema: option({
      default: 'public',
      check: matching(
        /^[A-Za-z_][A-Za-z0-9_]{0,62}$/,
        'a plain identifier (letters, digits, _), e.g. public',
      ),
      doc: "PostgreSQL schema for Tandem's tables (created if missing)",
      cli: { flag: 'database-schema', env: 'TANDEM_DATABASE_SCHEMA', parse: text },
    }),
    compactAfterUpdates: option({
      default: 1_000,
      check: positive,
      doc: "compact a room's update log into its snapshot after this many updates",
      cli: { flag: 'compact-after', env: 'TANDEM_COMPACT_AFTER', parse: number },
    }),
    compactAfterBytes: option({
      default: 4 * MiB,
      check: positive,
      doc: "... or after this many bytes of the room's update log",
      cli: { flag: 'compact-after-bytes', env: 'TANDEM_COMPACT_AFTER_BYTES', parse: number },
    }),
    /**
     * Encoding a document of up to ~1 MiB takes a few ms and the store's work is one write: much
     * cheaper than merging the log. A bigger one is merged by the store off the event loop.
     */
    compactFromDocumentMaxBytes: option({
      default: 1 * MiB,
      check: positive,
      doc: 'largest document compacted by encoding it on the event loop (bigger: merged off it)',
    }),
    storeRetryMinMs: option({
      default: 100,
      check: positive,
      doc: 'first delay before retrying a failed store write',
      cli: { flag: 'store-retry-min-ms', env: 'TANDEM_STORE_RETRY_MIN_MS', parse: number },
    }),
    storeRetryMaxMs: option({
      default: 5_000,
      check: positive,
      doc: 'longest delay between retries of a failed store write',
      cli: { flag: 'store-retry-max-ms', env: 'TANDEM_STORE_RETRY_MAX_MS', parse: number },
    }),
    roomUnloadDelayMs: option({
      default: 2_000,
      check: atLeastZero,
      doc: 'grace before a room without connections is flushed and unloaded',
      cli: { flag: 'unload-delay-ms', env: 'TANDEM_UNLOAD_DELAY_MS', parse: number },
    }),
    feedKeepChanges: option({
      default: 1_000,
      check: positive,
      doc: 'each room keeps at least its last this many changes (feed resume, edits on an old base)',
      cli: { flag: 'feed-keep-changes', env: 'TANDEM_FEED_KEEP_CHANGES', parse: number },
    }),
    feedKeepHours: option({
      default: 24,
      check: atLeastZero,
      doc: '... and all of its changes of the last this many hours',
      cli: { flag: 'feed-keep-hours', env: 'TANDEM_FEED_KEEP_HOURS', parse: number },
    }),
    store: option<DocStore | null>({
      default: null,
      doc: 'a DocStore to use instead of opening one from storage (custom backends, fault injection)',
    }),
  }),

  ...section('History', {
    historyQuietMs: option({
      default: 30_000,
      check: positive,
      doc: 'an automatic version is made once edits to a room pause this long',
      cli: { flag: 'history-quiet-ms', env: 'TANDEM_HISTORY_QUIET_MS', parse: number },
    }),
    historyMaxIntervalMs: option({
      default: 300_000,
      check: positive,
      doc: '... and at least this often while editing goes on',
      cli: { flag: 'history-max-interval-ms', env: 'TANDEM_HISTORY_MAX_INTERVAL_MS', parse: number },
    }),
    historyKeepAllDays: option({
      default: 7,
      check: atLeastZero,
      doc: 'every automatic version is kept this many days (named and restore versions: until deleted)',
      cli: { flag: 'history-keep-all-days', env: 'TANDEM_HISTORY_KEEP_ALL_DAYS', parse: number },
    }),
    historyHourlyDays: option({
      default: 30,
      check: atLeastZero,
      doc: '... then one per hour until this many days, then one per day',
      cli: { flag: 'history-hourly-days', env: 'TANDEM_HISTORY_HOURLY_DAYS', parse: number },
    }),
    historyThinIntervalMs: option({
      default: 3_600_000,
      check: positive,
      doc: "how often each loaded room's automatic versions are thinned to that policy (also when it loads)",
      cli: { flag: 'history-thin-interval-ms', env: 'TANDEM_HISTORY_THIN_INTERVAL_MS', parse: number },
    }),
  }),

  ...section('Several instances', {
    redisUrl: option<string | null>({
      default: null,
      check: orNull(matching(/^rediss?:\/\//, 'a redis:// or rediss:// URL')),
      doc: 'Redis connection string; set, edits and presence fan out to every instance sharing DATABASE_URL (PostgreSQL)',
      cli: { flag: 'redis-url', env: 'REDIS_URL', parse: textOrUnset },
    }),
    redisPrefix: option({
      default: 'tandem:',
      check: matching(/^.{0,100}$/s, 'a string of at most 100 characters'),
      doc: "prefix of Tandem's Redis channel names (several deployments can share one Redis)",
      cli: { flag: 'redis-prefix', env: 'REDIS_PREFIX', parse: text },
    }),
  }),

  ...section('Access', {
    authSecret: option<string | null>({
      default: null,
      check: orNull(secret(32)),
      doc: 'secret (32+ characters) signing room links; unset: rooms are open to anyone with the URL',
      cli: { flag: 'auth-secret', env: 'TANDEM_AUTH_SECRET', parse: textOrUnset },
    }),
    publicUrl: option<string | null>({
      default: null,
      shown: 'from Host',
      check: orNull(matching(/^https?:\/\/[^/]+\/?$/, 'an http(s) origin such as https://tandem.example')),
      doc: 'origin of the links the API returns, e.g. https://tandem.example',
      cli: { flag: 'public-url', env: 'TANDEM_PUBLIC_URL', parse: textOrUnset },
    }),
    allowedOrigins: option<string[] | null>({
      default: null,
      shown: 'any',
      check: orNull(origins),
      doc: 'comma list of origins browsers may connect (and call the API) from; 403 otherwise',
      cli: { flag: 'allowed-origins', env: 'TANDEM_ALLOWED_ORIGINS', parse: originList },
    }),
    defaultLinkTtlSeconds: option({
      default: 7 * DAY,
      shown: inDays,
      check: positive,
      doc: 'lifetime of a link the API mints when none is asked for (30m, 12h, 7d or seconds)',
      cli: { flag: 'default-link-ttl', env: 'TANDEM_DEFAULT_LINK_TTL', parse: duration },
    }),
    maxLinkTtlSeconds: option({
      default: 365 * DAY,
      shown: inDays,
      check: positive,
      doc: 'longest link lifetime (30m, 12h, 7d or seconds); a shorter one also caps the default',
      cli: { flag: 'max-link-ttl', env: 'TANDEM_MAX_LINK_TTL', parse: duration },
    }),
    maxRevocationsPerRoom: option({
      default: 1_000,
      check: positive,
      doc: 'live revocations per room (409 revocations_full past it)',
      cli: { flag: 'max-revocations', env: 'TANDEM_MAX_REVOCATIONS', parse: number },
    }),
    roomCreationsPerMinute: option({
      default: 30,
      check: positive,
      doc: 'POST /api/rooms per client address (429 rate_limited with Retry-After past it)',
      cli: { flag: 'rooms-per-minute', env: 'TANDEM_ROOMS_PER_MINUTE', parse: number },
    }),
    roomCreationBurst: option({
      default: 10,
      check: positive,
      doc: 'POST /api/rooms per client address in a burst',
      cli: { flag: 'rooms-burst', env: 'TANDEM_ROOMS_BURST', parse: number },
    }),
    adminRequestsPerMinute: option({
      default: 60,
      check: positive,
      doc: 'admin API requests (links, revoke, mode) per room and per client address (429 past it)',
      cli: { flag: 'admin-per-minute', env: 'TANDEM_ADMIN_PER_MINUTE', parse: number },
    }),
    adminRequestBurst: option({
      default: 30,
      check: positive,
      doc: 'admin API requests per room and per client address in a burst',
      cli: { flag: 'admin-burst', env: 'TANDEM_ADMIN_BURST', parse: number },
    }),
  }),

  ...section('Connections', {
    maxConnections: option({
      default: 10_000,
      check: positive,
      doc: 'open WebSockets in total (503 past it)',
      cli: { flag: 'max-connections', env: 'TANDEM_MAX_CONNECTIONS', parse: number },
    }),
    maxConnectionsPerIp: option({
      default: 100,
      check: positive,
      doc: 'open WebSockets per client address (429 past it)',
      cli: { flag: 'max-connections-per-ip', env: 'TANDEM_MAX_CONNECTIONS_PER_IP', parse: number },
    }),
    maxRoomsLoaded: option({
      default: 10_000,
      check: positive,
      doc: 'rooms loaded or being loaded (503 for another room past it)',
      cli: { flag: 'max-rooms', env: 'TANDEM_MAX_ROOMS', parse: number },
    }),
    heartbeatMs: option({
      default: 30_000,
      check: positive,
      doc: 'ping interval; a peer that missed the last ping is dropped',
      cli: { flag: 'heartbeat-ms', env: 'TANDEM_HEARTBEAT_MS', parse: number },
    }),
    syncDeadlineMs: option({
      default: 30_000,
      check: positive,
      doc: 'a connection that sends no sync message by then is closed (4508)',
      cli: { flag: 'sync-deadline-ms', env: 'TANDEM_SYNC_DEADLINE_MS', parse: number },
    }),
    maxBufferedBytes: option({
      default: 64 * MiB,
      check: positive,
      doc: 'a connection whose unsent output passes this is dropped (it is not reading)',
      cli: { flag: 'max-buffered-bytes', env: 'TANDEM_MAX_BUFFERED_BYTES', parse: number },
    }),
    maxFeedsPerRoom: option({
      default: 1_000,
      check: positive,
      doc: 'change-feed streams (SSE, GET …/events) on one room (503 past it); each also counts as a connection',
      cli: { flag: 'max-feeds-per-room', env: 'TANDEM_MAX_FEEDS_PER_ROOM', parse: number },
    }),
    /** At least 64 KiB: a stream waits for its client past half of it (above Node's 16 KiB high-water mark). */
    maxFeedBufferBytes: option({
      default: 1 * MiB,
      check: (bytes) => positive(bytes) ?? (bytes >= 64 * KiB ? null : 'at least 65536 (64 KiB)'),
      doc: 'a change-feed stream whose unsent output passes this is closed (its client reconnects and resumes)',
      cli: { flag: 'max-feed-buffer-bytes', env: 'TANDEM_MAX_FEED_BUFFER_BYTES', parse: number },
    }),
    feedKeepAliveMs: option({
      default: 15_000,
      check: positive,
      doc: 'interval of the keep-alive comment on change-feed streams',
      cli: { flag: 'feed-keep-alive-ms', env: 'TANDEM_FEED_KEEP_ALIVE_MS', parse: number },
    }),
    /** At least the quota plus framing, so offline work up to the quota can always sync. */
    maxPayload: option({
      default: 32 * MiB + 1 * KiB,
      shown: 'quota + 1024',
      check: positive,
      doc: 'largest accepted frame in bytes, at least the document quota + 1024 (larger: 4413, as the quota)',
      cli: { flag: 'max-payload', env: 'TANDEM_MAX_PAYLOAD', parse: number },
    }),
    documentMessagesPerSecond: option({
      default: 200,
      check: positive,
      doc: 'document messages per connection per second, sustained; on the command line the burst is twice that (4529)',
      cli: { flag: 'doc-messages-per-second', env: 'TANDEM_DOC_MESSAGES_PER_SECOND', parse: number },
    }),
    documentMessageBurst: option({
      default: 400,
      check: positive,
      doc: 'document messages per connection in a burst',
      cli: { flag: 'doc-message-burst', env: 'TANDEM_DOC_MESSAGE_BURST', parse: number },
    }),
    documentBytesPerSecond: option({
      default: 2 * MiB,
      check: positive,
      doc: 'document bytes per connection per second, sustained (4529)',
      cli: { flag: 'doc-bytes-per-second', env: 'TANDEM_DOC_BYTES_PER_SECOND', parse: number },
    }),
    documentByteBurst: option({
      default: 32 * MiB + 1 * KiB,
      shown: 'max payload',
      check: positive,
      doc: 'document bytes per connection in a burst, at least the max payload (one frame always passes)',
      cli: { flag: 'doc-byte-burst', env: 'TANDEM_DOC_BYTE_BURST', parse: number },
    }),
    awarenessMessagesPerSecond: option({
      default: 50,
      check: positive,
      doc: 'awareness messages per connection per second, sustained; on the command line the burst is twice that',
      cli: { flag: 'awareness-per-second', env: 'TANDEM_AWARENESS_PER_SECOND', parse: number },
    }),
    awarenessBurst: option({
      default: 100,
      check: positive,
      doc: 'awareness messages per connection in a burst',
      cli: { flag: 'awareness-burst', env: 'TANDEM_AWARENESS_BURST', parse: number },
    }),
    maxAwarenessMessageBytes: option({
      default: 256 * KiB,
      check: positive,
      doc: 'largest awareness message (at least the largest awareness state)',
      cli: { flag: 'max-awareness-message-bytes', env: 'TANDEM_MAX_AWARENESS_MESSAGE_BYTES', parse: number },
    }),
    maxAwarenessClientsPerConnection: option({
      default: 8,
      check: positive,
      doc: 'awareness client ids one connection may introduce',
      cli: { flag: 'max-awareness-clients', env: 'TANDEM_MAX_AWARENESS_CLIENTS', parse: number },
    }),
  }),

  ...section('Documents', {
    /** Stored size (snapshot plus log) plus STRUCT_MEMORY (rooms/room.ts) per struct the document holds. */
    maxDocumentBytes: option({
      default: 32 * MiB,
      check: positive,
      doc: 'quota on what a room costs: stored bytes + 210 B of memory per item; updates past it: 4413',
      cli: { flag: 'max-document-bytes', env: 'TANDEM_MAX_DOCUMENT_BYTES', parse: number },
    }),
    /** In nanoseconds as priced by admission/update-admission.ts (PRICES); milliseconds on the command line. */
    maxUpdateWork: option({
      default: 50_000_000,
      shown: (ns) => `${ns / 1e6} ms`,
      check: positive,
      doc: 'work one update may cost per event-loop turn, as priced (library: in ns); more is applied in slices, up to 20x; then 4413',
      cli: { flag: 'max-update-work-ms', env: 'TANDEM_MAX_UPDATE_WORK_MS', parse: (ms) => number(ms) * 1e6 },
    }),
    maxUpdateClients: option({
      default: 1_000,
      check: positive,
      doc: 'new client ids one update may introduce',
      cli: { flag: 'max-update-clients', env: 'TANDEM_MAX_UPDATE_CLIENTS', parse: number },
    }),
    maxRoomClients: option({
      default: 50_000,
      check: positive,
      doc: "client ids a room's document may hold (each is a state-vector entry sent to every joiner)",
      cli: { flag: 'max-room-clients', env: 'TANDEM_MAX_ROOM_CLIENTS', parse: number },
    }),
    maxUpdateSubdocs: option({
      default: 100,
      check: positive,
      doc: 'subdocuments one update may create',
      cli: { flag: 'max-update-subdocs', env: 'TANDEM_MAX_UPDATE_SUBDOCS', parse: number },
    }),
    maxRoomSubdocs: option({
      default: 1_000,
      check: positive,
      doc: "subdocuments a room's document may hold",
      cli: { flag: 'max-room-subdocs', env: 'TANDEM_MAX_ROOM_SUBDOCS', parse: number },
    }),
    maxRootTypes: option({
      default: 256,
      check: positive,
      doc: "named top-level types a room's document may hold",
      cli: { flag: 'max-root-types', env: 'TANDEM_MAX_ROOT_TYPES', parse: number },
    }),
    maxJsonDepth: option({
      default: 64,
      check: positive,
      doc: 'deepest nesting of JSON / lib0 values in document content and awareness states',
      cli: { flag: 'max-json-depth', env: 'TANDEM_MAX_JSON_DEPTH', parse: number },
    }),
    maxAwarenessStateBytes: option({
      default: 8 * KiB,
      check: positive,
      doc: 'largest awareness state (JSON bytes)',
      cli: { flag: 'max-awareness-state-bytes', env: 'TANDEM_MAX_AWARENESS_STATE_BYTES', parse: number },
    }),
  }),

  ...section('Monitoring and logs', {
    /** Set, the public port serves no `/metrics` and only `{status}` at `/health`. */
    monitorPort: option<number | null>({
      default: null,
      check: orNull(port),
      doc: 'serve /metrics, /ready and /health details on this second port only (public /health: status only)',
      cli: { flag: 'monitor-port', env: 'TANDEM_MONITOR_PORT', parse: number },
    }),
    monitorHost: option({
      default: '127.0.0.1',
      check: matching(/./, 'an address such as 127.0.0.1'),
      doc: 'address the monitor port binds',
      cli: { flag: 'monitor-host', env: 'TANDEM_MONITOR_HOST', parse: text },
    }),
    monitorToken: option<string | null>({
      default: null,
      check: orNull(secret(16)),
      doc: 'bearer token (16+ characters) that /metrics and /health details require (else 401, or the status only)',
      cli: { flag: 'monitor-token', env: 'TANDEM_MONITOR_TOKEN', parse: textOrUnset },
    }),
    stallWarnMs: option({
      default: 50,
      check: atLeastZero,
      doc: 'log every event-loop stall at least this long, with what ran around it (0 = off)',
      cli: { flag: 'stall-warn-ms', env: 'TANDEM_STALL_WARN_MS', parse: number },
    }),
    logLevel: option({
      default: 'info',
      doc: 'pino level: trace, debug (connections, room loads), info, warn, error or silent',
      cli: { flag: 'log-level', env: 'LOG_LEVEL', parse: text },
    }),
    logger: option<Logger | null>({
      default: null,
      doc: 'a pino logger to use instead of creating one (tests pass a silent one)',
    }),
  }),
}

type Options = typeof OPTIONS

/** The server's options, each as `OPTIONS` declares it. */
export type ServerConfig = { -readonly [K in keyof Options]: Options[K] extends Option<infer T> ? T : never }

export const defaultConfig: Readonly<ServerConfig> = Object.freeze(
  Object.fromEntries(Object.entries(OPTIONS).map(([name, spec]) => [name, spec.default])) as ServerConfig,
)
