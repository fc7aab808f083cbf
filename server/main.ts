/**
 * Entry point: reads flags and environment variables (only here), starts the server, and shuts it
 * down gracefully on SIGTERM/SIGINT (stop accepting, close sockets with 1012, flush rooms, exit 0).
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parseTtl } from './auth/tokens.ts'
import { defaultConfig, type ServerConfig } from './config/config.ts'
import { redisLocation } from './fanout/redis-bus.ts'
import { createLogger, LOG_FORMATS, type LogFormat } from './ops/logger.ts'
import { createServer } from './server.ts'
import { StoreOpenError } from './store/index.ts'

const OPTIONS = [
  ['port', 'PORT', 'TCP port (0 = any free port)', String(defaultConfig.port)],
  ['host', 'HOST', 'address to bind', defaultConfig.host],
  ['db', 'TANDEM_DB', 'SQLite database file', defaultConfig.db],
  [
    'database-url',
    'DATABASE_URL',
    'PostgreSQL connection string; set, documents live in PostgreSQL (several instances may share it)',
    'unset',
  ],
  [
    'storage',
    'TANDEM_STORAGE',
    'sqlite | postgres | memory (memory keeps nothing across restarts)',
    'postgres with DATABASE_URL, else sqlite',
  ],
  ['database-schema', 'TANDEM_DATABASE_SCHEMA', "PostgreSQL schema for Tandem's tables", 'public'],
  [
    'redis-url',
    'REDIS_URL',
    'Redis connection string; set, edits and presence fan out to every instance sharing DATABASE_URL',
    'unset',
  ],
  ['redis-prefix', 'REDIS_PREFIX', "prefix of Tandem's Redis channel names", defaultConfig.redisPrefix],
  [
    'sqlite-sync',
    'TANDEM_SQLITE_SYNC',
    'NORMAL (survives process crashes) | FULL (also power loss)',
    defaultConfig.sqliteSynchronous,
  ],
  ['static-dir', 'TANDEM_STATIC_DIR', 'built browser client to serve ("" = none)', 'client/dist'],
  [
    'max-document-bytes',
    'TANDEM_MAX_DOCUMENT_BYTES',
    'quota on what a room costs: stored bytes + 210 B of memory per item; frames up to it are accepted',
    String(defaultConfig.maxDocumentBytes),
  ],
  [
    'max-update-work-ms',
    'TANDEM_MAX_UPDATE_WORK_MS',
    'work one update may cost per event-loop turn, as priced (more is applied in slices, up to 20x; then 4413)',
    String(defaultConfig.maxUpdateWork / 1e6),
  ],
  [
    'max-payload',
    'TANDEM_MAX_PAYLOAD',
    'largest accepted frame in bytes (at least the document quota + 1024)',
    'quota + 1024',
  ],
  [
    'heartbeat-ms',
    'TANDEM_HEARTBEAT_MS',
    'ping interval; silent peers are dropped',
    String(defaultConfig.heartbeatMs),
  ],
  [
    'unload-delay-ms',
    'TANDEM_UNLOAD_DELAY_MS',
    'grace before an empty room is unloaded',
    String(defaultConfig.roomUnloadDelayMs),
  ],
  [
    'compact-after',
    'TANDEM_COMPACT_AFTER',
    'compact a room log after this many updates',
    String(defaultConfig.compactAfterUpdates),
  ],
  [
    'auth-secret',
    'TANDEM_AUTH_SECRET',
    'secret (32+ characters) signing room links; unset = rooms open to anyone with the URL',
    'unset',
  ],
  [
    'public-url',
    'TANDEM_PUBLIC_URL',
    'origin of the links the API returns, e.g. https://tandem.example',
    'from Host',
  ],
  [
    'allowed-origins',
    'TANDEM_ALLOWED_ORIGINS',
    'comma list of origins browsers may connect from (403 otherwise)',
    'any',
  ],
  ['trust-proxy', 'TANDEM_TRUST_PROXY', 'true: client address from X-Forwarded-For (per-IP limits)', 'false'],
  [
    'max-link-ttl',
    'TANDEM_MAX_LINK_TTL',
    'longest link lifetime (30m, 12h, 7d or seconds)',
    `${defaultConfig.maxLinkTtlSeconds / 86_400}d`,
  ],
  [
    'max-connections-per-ip',
    'TANDEM_MAX_CONNECTIONS_PER_IP',
    'open WebSockets per client address (429 past it)',
    String(defaultConfig.maxConnectionsPerIp),
  ],
  [
    'max-connections',
    'TANDEM_MAX_CONNECTIONS',
    'open WebSockets in total (503 past it)',
    String(defaultConfig.maxConnections),
  ],
  [
    'max-rooms',
    'TANDEM_MAX_ROOMS',
    'rooms loaded in memory (503 for another room past it)',
    String(defaultConfig.maxRoomsLoaded),
  ],
  [
    'max-revocations',
    'TANDEM_MAX_REVOCATIONS',
    'live revocations per room (409 revocations_full past it)',
    String(defaultConfig.maxRevocationsPerRoom),
  ],
  [
    'rooms-per-minute',
    'TANDEM_ROOMS_PER_MINUTE',
    'POST /api/rooms per client address (429 past it)',
    String(defaultConfig.roomCreationsPerMinute),
  ],
  [
    'admin-per-minute',
    'TANDEM_ADMIN_PER_MINUTE',
    'admin API requests per room and per client address (429 past it)',
    String(defaultConfig.adminRequestsPerMinute),
  ],
  [
    'max-http-connections',
    'TANDEM_MAX_HTTP_CONNECTIONS',
    'open plain HTTP sockets in total (closed at once past it)',
    String(defaultConfig.maxHttpConnections),
  ],
  [
    'max-http-per-ip',
    'TANDEM_MAX_HTTP_PER_IP',
    'open plain HTTP sockets per client address (not with --trust-proxy)',
    String(defaultConfig.maxHttpConnectionsPerIp),
  ],
  [
    'keep-alive-timeout-ms',
    'TANDEM_KEEP_ALIVE_TIMEOUT_MS',
    'close an idle keep-alive HTTP socket after this long',
    String(defaultConfig.keepAliveTimeoutMs),
  ],
  [
    'monitor-port',
    'TANDEM_MONITOR_PORT',
    'serve /metrics and /health details on this port only (public /health: status only)',
    'unset',
  ],
  ['monitor-host', 'TANDEM_MONITOR_HOST', 'address the monitor port binds', defaultConfig.monitorHost],
  [
    'monitor-token',
    'TANDEM_MONITOR_TOKEN',
    'bearer token (16+ characters) /metrics and /health details require',
    'unset',
  ],
  [
    'sync-deadline-ms',
    'TANDEM_SYNC_DEADLINE_MS',
    'close a connection that sends no sync message by then (4508)',
    String(defaultConfig.syncDeadlineMs),
  ],
  [
    'doc-messages-per-second',
    'TANDEM_DOC_MESSAGES_PER_SECOND',
    'document messages per connection per second, burst twice that (4529)',
    String(defaultConfig.documentMessagesPerSecond),
  ],
  [
    'doc-bytes-per-second',
    'TANDEM_DOC_BYTES_PER_SECOND',
    'document bytes per connection per second, burst one max frame (4529)',
    String(defaultConfig.documentBytesPerSecond),
  ],
  ['log-level', 'LOG_LEVEL', 'pino level: trace debug info warn error silent', defaultConfig.logLevel],
  ['log-format', 'LOG_FORMAT', 'json | pretty', 'pretty on a terminal, else json'],
] as const

/** A bad option value whose message says all there is to say: printed as one line, without usage. */
class OptionValueError extends Error {}

function usage(): string {
  const lines = OPTIONS.map(
    ([flag, env, help, fallback]) =>
      `  --${flag.padEnd(24)} ${env.padEnd(31)} ${help} (default: ${fallback})`,
  )
  return `Usage: npm run server -- [options]\n\nOption                     Environment variable            Meaning\n${lines.join('\n')}\n  --help                     print this and exit\n`
}

function readConfig(): Partial<ServerConfig> {
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(OPTIONS.map(([flag]) => [flag, { type: 'string' as const }])),
      help: { type: 'boolean' },
    },
  })
  if (values.help) {
    process.stdout.write(usage())
    process.exit(0)
  }
  const pick = (flag: string, env: string): string | undefined =>
    (values as Record<string, string | undefined>)[flag] ?? process.env[env]
  const number = (flag: string, env: string): number | undefined => {
    const raw = pick(flag, env)
    if (raw === undefined) return undefined
    const value = Number(raw)
    if (!Number.isFinite(value)) throw new TypeError(`--${flag} / ${env} must be a number, got "${raw}"`)
    return value
  }
  const config: Partial<ServerConfig> = {}
  const set = <K extends keyof ServerConfig>(key: K, value: ServerConfig[K] | undefined) => {
    if (value !== undefined) config[key] = value
  }
  set('port', number('port', 'PORT'))
  set('host', pick('host', 'HOST'))
  set('storage', pick('storage', 'TANDEM_STORAGE') as ServerConfig['storage'] | undefined)
  set('databaseUrl', pick('database-url', 'DATABASE_URL') || undefined)
  if (config.storage !== 'memory' && !config.databaseUrl) set('db', pick('db', 'TANDEM_DB'))
  set('databaseSchema', pick('database-schema', 'TANDEM_DATABASE_SCHEMA'))
  set('redisUrl', pick('redis-url', 'REDIS_URL') || undefined)
  set('redisPrefix', pick('redis-prefix', 'REDIS_PREFIX'))
  set(
    'sqliteSynchronous',
    pick('sqlite-sync', 'TANDEM_SQLITE_SYNC')?.toUpperCase() as ServerConfig['sqliteSynchronous'],
  )
  const staticDir = pick('static-dir', 'TANDEM_STATIC_DIR') ?? 'client/dist'
  config.staticDir = staticDir === '' ? null : staticDir
  set('maxDocumentBytes', number('max-document-bytes', 'TANDEM_MAX_DOCUMENT_BYTES'))
  set('maxPayload', number('max-payload', 'TANDEM_MAX_PAYLOAD'))
  const updateWorkMs = number('max-update-work-ms', 'TANDEM_MAX_UPDATE_WORK_MS')
  if (updateWorkMs !== undefined) config.maxUpdateWork = updateWorkMs * 1e6
  set('heartbeatMs', number('heartbeat-ms', 'TANDEM_HEARTBEAT_MS'))
  set('roomUnloadDelayMs', number('unload-delay-ms', 'TANDEM_UNLOAD_DELAY_MS'))
  set('compactAfterUpdates', number('compact-after', 'TANDEM_COMPACT_AFTER'))
  set('authSecret', pick('auth-secret', 'TANDEM_AUTH_SECRET') || undefined)
  set('publicUrl', pick('public-url', 'TANDEM_PUBLIC_URL') || undefined)
  const origins = pick('allowed-origins', 'TANDEM_ALLOWED_ORIGINS')
  if (origins) config.allowedOrigins = origins.split(',').map((origin) => origin.trim().replace(/\/$/, ''))
  const trustProxy = pick('trust-proxy', 'TANDEM_TRUST_PROXY')
  if (trustProxy !== undefined) config.trustProxy = trustProxy === 'true' || trustProxy === '1'
  const maxLinkTtl = pick('max-link-ttl', 'TANDEM_MAX_LINK_TTL')
  if (maxLinkTtl !== undefined) {
    const seconds = parseTtl(maxLinkTtl)
    if (seconds === null) {
      throw new OptionValueError(
        `--max-link-ttl / TANDEM_MAX_LINK_TTL must look like 30m, 12h, 7d or 3600, got "${maxLinkTtl}"`,
      )
    }
    config.maxLinkTtlSeconds = seconds
    config.defaultLinkTtlSeconds = Math.min(defaultConfig.defaultLinkTtlSeconds, seconds)
  }
  set('maxConnectionsPerIp', number('max-connections-per-ip', 'TANDEM_MAX_CONNECTIONS_PER_IP'))
  set('maxConnections', number('max-connections', 'TANDEM_MAX_CONNECTIONS'))
  set('maxRoomsLoaded', number('max-rooms', 'TANDEM_MAX_ROOMS'))
  set('maxRevocationsPerRoom', number('max-revocations', 'TANDEM_MAX_REVOCATIONS'))
  set('roomCreationsPerMinute', number('rooms-per-minute', 'TANDEM_ROOMS_PER_MINUTE'))
  set('adminRequestsPerMinute', number('admin-per-minute', 'TANDEM_ADMIN_PER_MINUTE'))
  set('maxHttpConnections', number('max-http-connections', 'TANDEM_MAX_HTTP_CONNECTIONS'))
  set('maxHttpConnectionsPerIp', number('max-http-per-ip', 'TANDEM_MAX_HTTP_PER_IP'))
  set('keepAliveTimeoutMs', number('keep-alive-timeout-ms', 'TANDEM_KEEP_ALIVE_TIMEOUT_MS'))
  set('monitorPort', number('monitor-port', 'TANDEM_MONITOR_PORT'))
  set('monitorHost', pick('monitor-host', 'TANDEM_MONITOR_HOST'))
  set('monitorToken', pick('monitor-token', 'TANDEM_MONITOR_TOKEN') || undefined)
  set('syncDeadlineMs', number('sync-deadline-ms', 'TANDEM_SYNC_DEADLINE_MS'))
  const docMessages = number('doc-messages-per-second', 'TANDEM_DOC_MESSAGES_PER_SECOND')
  if (docMessages !== undefined) {
    config.documentMessagesPerSecond = docMessages
    config.documentMessageBurst = docMessages * 2
  }
  set('documentBytesPerSecond', number('doc-bytes-per-second', 'TANDEM_DOC_BYTES_PER_SECOND'))
  set('logLevel', pick('log-level', 'LOG_LEVEL'))
  const format = pick('log-format', 'LOG_FORMAT') ?? (process.stdout.isTTY ? 'pretty' : 'json')
  if (!LOG_FORMATS.includes(format as LogFormat)) {
    throw new OptionValueError(`--log-format / LOG_FORMAT must be json or pretty, got "${format}"`)
  }
  config.logger = createLogger(config.logLevel ?? defaultConfig.logLevel, format as LogFormat)
  return config
}

/** The one line a person reads when the server is up: where to go, and where documents are kept. */
function greeting(address: { port: number; host: string }, config: ServerConfig): string {
  const { host, port } = address
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
  const storage =
    config.storage === 'memory'
      ? 'storage: in memory — nothing is kept after the server stops'
      : config.storage === 'postgres'
        ? `storage: PostgreSQL at ${databaseLocation(config.databaseUrl ?? '')}${
            config.redisUrl ? `, fan-out: Redis at ${redisLocation(config.redisUrl)}` : ''
          }`
        : `storage: SQLite, data in ${resolve(config.db)}`
  const client =
    config.staticDir === null
      ? ' (API and WebSocket only; no browser client served)'
      : existsSync(join(config.staticDir, 'index.html'))
        ? ''
        : ` (no browser client built in ${config.staticDir}; run npm run build)`
  const access =
    config.authSecret === null
      ? ' (rooms are open to anyone with the URL; set TANDEM_AUTH_SECRET to require signed links)'
      : ' (rooms need signed links)'
  return `Tandem is running at http://${name}:${port}/ (${storage})${client}${access}\n`
}

/** Host and database of a connection string, never its user or password. */
function databaseLocation(url: string): string {
  try {
    const { host, pathname } = new URL(url)
    return `${host}${pathname}`
  } catch {
    return 'DATABASE_URL'
  }
}

async function main(): Promise<void> {
  let config: Partial<ServerConfig>
  let server: ReturnType<typeof createServer>
  try {
    config = readConfig()
    server = createServer(config)
  } catch (err) {
    // The database could not be opened: the message names the file and what to do; no usage, no stack.
    if (err instanceof StoreOpenError) {
      process.stderr.write(`tandem: ${err.message}\n`)
      process.exit(1)
    }
    if (err instanceof OptionValueError) {
      process.stderr.write(`tandem: ${err.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`tandem: ${err instanceof Error ? err.message : String(err)}\n\n${usage()}`)
    process.exit(2)
  }
  // Every network callback contains its own errors; this is the last line for a stray promise.
  process.on('unhandledRejection', (err) => server.log.error({ err }, 'unhandled rejection (contained)'))
  let address: { port: number; host: string }
  try {
    address = await server.listen()
  } catch (err) {
    // The database could not be opened (the SQLite worker opens it as the server starts; PostgreSQL is
    // first reached then).
    if (err instanceof StoreOpenError) {
      process.stderr.write(`tandem: ${err.message}\n`)
      process.exit(1)
    }
    const code = (err as NodeJS.ErrnoException).code
    const where = `${config.host ?? defaultConfig.host}:${config.port ?? defaultConfig.port}`
    const advice =
      code === 'EADDRINUSE'
        ? `${where} is already in use; stop what listens there or pass another --port / PORT`
        : code === 'EACCES'
          ? `no permission to listen on ${where}; use a port above 1023 or pass another --port / PORT`
          : `cannot listen on ${where}: ${(err as Error).message}`
    process.stderr.write(`tandem: ${advice}\n`)
    await server.close().catch(() => {})
    process.exit(1)
  }
  // Straight to stdout, not through the logger: it is for a person, whatever the log format.
  process.stdout.write(greeting(address, server.config))
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    server.log.info({ signal }, 'shutting down')
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

void main()
