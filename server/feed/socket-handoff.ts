/**
 * Takes a response's socket over from Node's HTTP server once the response head is sent, as Node
 * itself does for an upgrade (lib/_http_server.js `onParserExecuteCommon`): the server's socket
 * listeners come off, the HTTP parser is freed (and leaves the server's connection list), and the
 * response is detached, so the request, the response and the parser can be collected while the
 * socket lives on. An idle stream then costs its socket and little else.
 *
 * Node has no public call for this outside an upgrade: the listeners are found by the names Node
 * gives them, and the parser is freed with `freeParser` from `_http_common` (the legacy module the
 * upgrade path uses). When Node's shapes differ (another version), nothing is taken over and the
 * caller goes on with the response (null).
 *
 * After the handoff the socket is the caller's: the server's timeouts (headers, request, idle) no
 * longer apply to it (the request is complete, so only the idle one could have), `server.close()`
 * still waits for it, `server.closeAllConnections()` still destroys it (the server's method is
 * extended, as Node no longer lists the socket), and listeners others put on the socket (the
 * connection limits' 'close') stay.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'

interface NodeParser {
  _consumed?: boolean
  unconsume(): void
  finish(): unknown
}

type NodeSocket = Socket & { parser?: NodeParser | null; _httpMessage?: unknown; server?: unknown }

type FreeParser = (parser: NodeParser, req: IncomingMessage | null, socket: Socket | null) => void

const freeParser = loadFreeParser()

/** The sockets handed over on each server, for its closeAllConnections (see stillClosedByServer). */
const handedOver = new WeakMap<HttpServer, HandedOver>()

/** One server's handed-over sockets, and the one 'close' listener they share to leave the set. */
interface HandedOver {
  sockets: Set<Socket>
  forget: (this: Socket) => void
}

/** The listeners Node's HTTP server puts on a connection's socket (`connectionListenerInternal`). */
const SERVER_LISTENERS: Record<string, string> = {
  data: 'bound socketOnData',
  end: 'bound socketOnEnd',
  close: 'bound socketOnClose',
  drain: 'bound socketOnDrain',
  error: 'socketOnError',
  timeout: 'socketOnTimeout',
  resume: 'onSocketResume',
  pause: 'onSocketPause',
}

/**
 * Writes `head` (the status line and headers, ending in a blank line, and the start of the body) to
 * the socket of `res` and hands the socket over (see the module comment); null, with nothing
 * written, when it cannot be taken over. The socket ends when the client ends its side, and a socket
 * error never throws into the process.
 *
 * Node's parser may still be running the request that called this (a handler answering at once),
 * so its state is let go on the next turn of the event loop: until then Node's listeners stay on
 * and the socket is Node's to clean up should it close.
 */
export function takeSocket(res: ServerResponse, head: string): Socket | null {
  const socket = res.socket as NodeSocket | null
  if (!freeParser || !socket || socket.destroyed || res.headersSent || socket._httpMessage !== res)
    return null
  const parser = socket.parser
  if (!parser || typeof parser.unconsume !== 'function' || !hasServerListeners(socket)) return null
  socket.on('error', ignore)
  // The server lets a client half-close; a stream has nothing more to say once the client has.
  socket.on('end', destroySocket)
  socket.write(head)
  setImmediate(release, res, socket, parser)
  return socket
}

/** Lets go of Node's request, response and parser for `socket` (as Node does for an upgrade). */
function release(res: ServerResponse, socket: NodeSocket, parser: NodeParser): void {
  if (socket.destroyed || socket.parser !== parser || socket._httpMessage !== res) return
  res.detachSocket(socket)
  for (const [event, name] of Object.entries(SERVER_LISTENERS)) {
    for (const listener of socket.listeners(event)) {
      if (listener.name === name) socket.removeListener(event, listener as (...args: unknown[]) => void)
    }
  }
  if (parser._consumed) parser.unconsume()
  parser._consumed = false
  parser.finish()
  freeParser?.(parser, res.req, socket)
  socket.setTimeout(0)
  // What the client sends now is dropped: the socket reads on only to see the client's end.
  socket.resume()
  stillClosedByServer(socket)
}

/**
 * Keeps `server.closeAllConnections()` closing `socket`: Node finds a connection by its parser,
 * which is gone, so the server's method also destroys the sockets handed over on it.
 */
function stillClosedByServer(socket: NodeSocket): void {
  const server = socket.server as HttpServer | null
  if (!server) return
  let held = handedOver.get(server)
  if (!held) {
    const sockets = new Set<Socket>()
    const closeAll = server.closeAllConnections
    server.closeAllConnections = function closeAllConnections(this: HttpServer) {
      closeAll.call(this)
      for (const one of [...sockets]) one.destroy()
    }
    held = {
      sockets,
      forget(this: Socket) {
        sockets.delete(this)
      },
    }
    handedOver.set(server, held)
  }
  held.sockets.add(socket)
  socket.on('close', held.forget)
}

function destroySocket(this: Socket): void {
  this.destroy()
}

/** The response head `res` would send with status 200 and `headers` (and any headers set on it). */
export function responseHead(res: ServerResponse, headers: Record<string, string>): string {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  let head = 'HTTP/1.1 200 OK\r\n'
  for (const [name, value] of Object.entries(res.getHeaders())) {
    for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${one}\r\n`
  }
  return `${head}date: ${new Date().toUTCString()}\r\n\r\n`
}

function hasServerListeners(socket: Socket): boolean {
  return socket.listeners('data').some((listener) => listener.name === SERVER_LISTENERS.data)
}

function ignore(): void {}

function loadFreeParser(): FreeParser | null {
  try {
    const common = createRequire(import.meta.url)('_http_common') as { freeParser?: FreeParser }
    return typeof common.freeParser === 'function' ? common.freeParser : null
  } catch {
    return null
  }
}
