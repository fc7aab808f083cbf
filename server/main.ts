/**
 * Entry point: reads flags and environment variables (only here, through config/cli.ts), starts the
 * server, and shuts it down gracefully on SIGTERM/SIGINT (stop accepting, close sockets with 1012,
 * flush rooms, exit 0), from the moment the server exists: a signal while it starts stops it too.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { OptionValueError, readCommandLine, usage } from './config/cli.ts'
import { defaultConfig, type ServerConfig } from './config/config.ts'
import { redisLocation } from './fanout/redis-bus.ts'
import { createLogger } from './ops/logger.ts'
import { createServer } from './server.ts'
import { StoreOpenError } from './store/index.ts'

/** The config the command line and the environment ask for, with the logger in the format they ask for. */
function readConfig(): Partial<ServerConfig> {
  const line = readCommandLine(process.argv.slice(2), process.env, process.stdout.isTTY === true)
  if (line.help) {
    process.stdout.write(usage())
    process.exit(0)
  }
  const logger = createLogger(line.config.logLevel ?? defaultConfig.logLevel, line.logFormat)
  return { ...line.config, logger }
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
  // In place before the server listens, so a signal at any time after it exists stops it gracefully.
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
  // Every network callback contains its own errors; this is the last line for a stray promise.
  process.on('unhandledRejection', (err) => server.log.error({ err }, 'unhandled rejection (contained)'))
  let address: { port: number; host: string }
  try {
    address = await server.listen()
  } catch (err) {
    // Stopped while starting: `stop` exits once the server has closed.
    if (stopping) return
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
    stopping = true
    await server.close().catch(() => {})
    process.exit(1)
  }
  if (stopping) return
  // Straight to stdout, not through the logger: it is for a person, whatever the log format.
  process.stdout.write(greeting(address, server.config))
}

void main()
