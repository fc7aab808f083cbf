/**
 * The WebSocket upgrade path: request target → room name → `admit` (origin, connection and room
 * limits) → `authenticate` (tokens) → `ws` handshake. Any refusal is one HTTP response written on
 * the raw socket (`refuseUpgrade`, in the manner of ws' `abortHandshake`), before a WebSocket or a
 * room exists. The whole path runs inside a guard, so no request, however malformed, can throw
 * into the process.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type { WebSocket, WebSocketServer } from 'ws'
import { roomNameProblem } from '../../shared/protocol/index.ts'
import { parseRequestTarget } from '../http/request-target.ts'
import type { Access } from './connection.ts'

/** The token a connection was admitted with: its own access level, id and expiry (ms). */
export interface GrantToken {
  access: Access
  jti: string
  expiresAt: number
  /** The name the token was minted with (its holder's display name as an author), if any. */
  name?: string | null
}

/** Access granted at the upgrade: what the connection may do now, and the token behind it (if any). */
export interface AccessGrant {
  access: Access
  token?: GrantToken
}

/** What `authenticate` decides: the access a connection gets, or a refusal. */
export type AuthDecision = AccessGrant | { status: number; reason: string }

/**
 * Cheap checks before `authenticate` (origin, connection and room limits). Returns a refusal, or
 * null to go on; it may reserve resources for the socket and release them when the socket closes.
 */
export type AdmitUpgrade = (
  request: IncomingMessage,
  socket: Duplex,
  room: string,
) => { status: number; reason: string } | null

/**
 * Decides who may connect to `room` and with what access (`ServerHooks.authenticate`). The default
 * is the room-token check (auth/authenticator.ts) with `authSecret`, else `grantEdit`.
 */
export type Authenticate = (
  request: IncomingMessage,
  room: string,
  url: URL,
) => AuthDecision | Promise<AuthDecision>

/** Lets every request edit: the default without `authSecret` (access control off). */
export const grantEdit: Authenticate = () => ({ access: 'edit' })

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** Writes an HTTP error response with a one-line reason on an upgrade socket and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return
  const body = `${reason}\n`
  // Closed once the answer is out, as ws' abortHandshake does: a peer that never closes its side
  // must not hold the socket (it no longer counts under any connection limit).
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

export interface UpgradeContext {
  wss: WebSocketServer
  log: Logger
  authenticate: Authenticate
  /** Runs before `authenticate` (see `AdmitUpgrade`). */
  admit?: AdmitUpgrade
  /** Non-null while shutting down: every upgrade gets 503. */
  closing: () => boolean
  /** Called with the open WebSocket once the handshake is done. */
  accept: (ws: WebSocket, socket: Duplex, room: string, grant: AccessGrant, url: URL) => void
}

/** Returns the `upgrade` listener for node:http. */
export function createUpgradeHandler(context: UpgradeContext) {
  const { log } = context
  // A socket error before the handshake completes must not become an unhandled 'error' event. One
  // listener for every socket: a closure here would hold each connection's upgrade request (with
  // its headers) for as long as the socket lives.
  const onSocketError = (err: Error): void => log.debug({ err }, 'upgrade socket error')
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', onSocketError)
    upgrade(context, req, socket, head).catch((err) => {
      log.error({ err, url: req.url }, 'upgrade failed')
      refuseUpgrade(socket, 500, 'internal error')
    })
  }
}

async function upgrade(
  context: UpgradeContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const { log } = context
  if (context.closing()) return refuseUpgrade(socket, 503, 'server is shutting down')
  const url = parseRequestTarget(req.url)
  if (!url) {
    log.info({ url: req.url?.slice(0, 200) }, 'upgrade refused: malformed request target')
    return refuseUpgrade(socket, 400, 'malformed request target')
  }
  const room = url.pathname.slice(1)
  const problem = roomNameProblem(room)
  if (problem) {
    log.info({ path: url.pathname.slice(0, 200), reason: problem }, 'upgrade refused')
    return refuseUpgrade(socket, 400, problem)
  }
  const refusal = context.admit?.(req, socket, room)
  if (refusal) {
    log.info({ room, status: refusal.status, reason: refusal.reason }, 'upgrade refused')
    return refuseUpgrade(socket, refusal.status, refusal.reason)
  }
  const decision = await context.authenticate(req, room, url)
  if ('status' in decision) {
    log.info({ room, status: decision.status, reason: decision.reason }, 'upgrade refused')
    return refuseUpgrade(socket, decision.status, decision.reason)
  }
  if (socket.destroyed) return
  context.wss.handleUpgrade(req, socket, head, (ws) => {
    try {
      context.accept(ws, socket, room, decision, url)
    } catch (err) {
      log.error({ err, room }, 'accepting a connection failed')
      ws.terminate()
    }
  })
}
