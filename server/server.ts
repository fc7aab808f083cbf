/**
 * The Tandem server as a library: an HTTP server (health, the browser client) and the y-websocket
 * relay on the same port. `createServer(config)` wires the parts; `listen()` and `close()` run it.
 *
 *   upgrade /<room> -> room name check (400 before a socket exists) -> Connection -> RoomRegistry.open
 *   Connection frame -> decodeIncoming -> authorize -> Room -> CommitQueue (group commit) -> relay
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import { WebSocketServer } from 'ws'
import { CloseCode, roomNameProblem, TANDEM_EXTENSIONS_PARAM } from '../shared/protocol/index.ts'
import { CommitQueue } from './commit-queue.ts'
import { resolveConfig, type ServerConfig } from './config.ts'
import { Connection } from './connection.ts'
import { createLogger } from './logger.ts'
import { RoomRegistry } from './room-registry.ts'
import { createStaticHandler } from './static-files.ts'
import { type DocStore, openStore } from './store/index.ts'

export interface TandemServer {
  readonly config: ServerConfig
  readonly log: Logger
  readonly rooms: RoomRegistry
  readonly store: DocStore
  /** Starts listening; resolves with the bound address (useful with port 0). */
  listen(): Promise<{ port: number; host: string }>
  /** Stops accepting, closes every socket with 1012, flushes and unloads every room, closes the store. */
  close(): Promise<void>
  /** Open WebSocket connections. */
  readonly connectionCount: number
}

/** Builds a server from a partial config (see `defaultConfig`); throws on contradictory options. */
export function createServer(partial: Partial<ServerConfig> = {}): TandemServer {
  const config = resolveConfig(partial)
  const log = config.logger ?? createLogger(config.logLevel)
  const store = openStore(config)
  const commits = new CommitQueue(store, log, {
    retryMinMs: config.storeRetryMinMs,
    retryMaxMs: config.storeRetryMaxMs,
    onCommitted: (entries) => {
      // Count per room for compaction thresholds (batches are usually one room's burst).
      let room = rooms.get(entries[0].room)
      let count = 0
      let bytes = 0
      for (const entry of entries) {
        if (room?.name !== entry.room) {
          room?.noteCommitted(count, bytes)
          room = rooms.get(entry.room)
          count = 0
          bytes = 0
        }
        count++
        bytes += entry.update.byteLength
      }
      room?.noteCommitted(count, bytes)
    },
  })
  const rooms = new RoomRegistry(
    store,
    commits,
    {
      unloadDelayMs: config.roomUnloadDelayMs,
      compactAfterUpdates: config.compactAfterUpdates,
      compactAfterBytes: config.compactAfterBytes,
    },
    log,
  )
  const connections = new Set<Connection>()
  const serveStatic = config.staticDir ? createStaticHandler(config.staticDir) : null
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, perMessageDeflate: false })
  let closing: Promise<void> | null = null
  const startedAt = Date.now()

  const http = createHttpServer((req, res) => {
    handleHttp(req, res).catch((err) => {
      log.error({ err, url: req.url }, 'http handler failed')
      if (!res.headersSent) res.writeHead(500).end()
      else res.destroy()
    })
  })

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === '/health') {
      const degraded = commits.failures > 0
      res.writeHead(degraded || closing ? 503 : 200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      })
      res.end(
        JSON.stringify({
          status: closing ? 'closing' : degraded ? 'degraded' : 'ok',
          rooms: rooms.size,
          connections: connections.size,
          storage: config.storage,
          storeFailures: commits.failures,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        }),
      )
      return
    }
    if (serveStatic && (await serveStatic(req, res, url.pathname))) return
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  }

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const room = url.pathname.slice(1)
    const problem = closing ? 'server is shutting down' : roomNameProblem(room)
    if (problem) {
      const status = closing ? '503 Service Unavailable' : '400 Bad Request'
      log.info({ path: url.pathname, reason: problem }, 'upgrade refused')
      socket.end(
        `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(problem) + 1}\r\n` +
          `Connection: close\r\n\r\n${problem}\n`,
      )
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const wantsSaved = url.searchParams.get(TANDEM_EXTENSIONS_PARAM) === '1'
      const connection = new Connection(ws, socket, room, wantsSaved, 'edit', log, (conn, loadedRoom) => {
        connections.delete(conn)
        if (loadedRoom) rooms.release(loadedRoom)
      })
      connections.add(connection)
      log.debug({ conn: connection.id, room, wantsSaved }, 'connection opened')
      rooms.open(room).then(
        (loaded) => {
          connection.attach(loaded)
          if (connection.closed) rooms.release(loaded)
        },
        (err) => {
          log.error({ err, conn: connection.id, room }, 'room failed to load')
          connection.close(CloseCode.internalError, 'room failed to load')
        },
      )
    })
  })

  const heartbeat = setInterval(() => {
    for (const connection of connections) {
      if (!connection.alive) {
        log.info({ conn: connection.id, room: connection.roomName }, 'peer missed a heartbeat; terminating')
        connection.ws.terminate()
        continue
      }
      connection.alive = false
      connection.ws.ping()
    }
  }, config.heartbeatMs)
  heartbeat.unref()

  return {
    config,
    log,
    rooms,
    store,
    get connectionCount() {
      return connections.size
    },
    listen() {
      return new Promise((resolve, reject) => {
        http.once('error', reject)
        http.listen(config.port, config.host, () => {
          http.off('error', reject)
          const address = http.address() as AddressInfo
          log.info({ port: address.port, host: address.address, storage: config.storage }, 'listening')
          resolve({ port: address.port, host: address.address })
        })
      })
    },
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat)
        http.close()
        const socketsClosed = [...connections].map(
          (connection) =>
            new Promise<void>((resolve) => {
              if (connection.closed) return resolve()
              connection.ws.once('close', () => resolve())
              connection.close(CloseCode.serviceRestart, 'server restarting')
              setTimeout(() => {
                connection.ws.terminate()
                resolve()
              }, 2_000).unref()
            }),
        )
        await Promise.all(socketsClosed)
        await rooms.closeAll()
        await commits.drain()
        await store.close()
        http.closeAllConnections()
        log.info('closed')
      })()
      return closing
    },
  }
}
