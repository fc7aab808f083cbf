/**
 * The node:http listeners (the public one, and the monitoring one with `monitorPort`): header,
 * request and keep-alive timeouts from the config, Node's own connection cap as a backstop, and
 * a request that is malformed or too slow answered 400 or 408 on its socket, as Node would, with a
 * debug line.
 */
import { createServer as createHttpServer, type Server as HttpServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { ServerConfig } from '../config/config.ts'

/** The options an HTTP listener reads. */
export type HttpListenerLimits = Pick<
  ServerConfig,
  'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'
>

/**
 * A node:http server answering with `handler`; Node destroys sockets past `maxConnections`
 * before any listener sees them.
 */
export function createHttpListener(
  limits: HttpListenerLimits,
  log: Logger,
  handler: RequestListener,
  maxConnections: number,
): HttpServer {
  const http = createHttpServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node checks those timeouts (default 30 s, which would stretch them).
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    handler,
  )
  http.keepAliveTimeout = limits.keepAliveTimeoutMs
  http.maxConnections = maxConnections
  http.on('clientError', (err, socket) => {
    // headersTimeoutMs / requestTimeoutMs passed (a slow or stalled client): 408, as Node would.
    const timedOut = (err as NodeJS.ErrnoException).code === 'ERR_HTTP_REQUEST_TIMEOUT'
    log.debug({ err }, timedOut ? 'HTTP request timed out' : 'malformed HTTP request')
    const status = timedOut ? '408 Request Timeout' : '400 Bad Request'
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`)
    else socket.destroy()
  })
  return http
}

/** Starts `server` listening on `host:port`; resolves with the bound address. */
export function listenOn(server: HttpServer, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}
