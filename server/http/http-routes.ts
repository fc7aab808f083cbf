/**
 * The HTTP side of the server: a small router of exact paths (the API grows here), then the static
 * client, then 404. Every handler runs inside a guard: a malformed request target gets 400, and a
 * handler that throws gets 500 and a log line; nothing reaches the process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { parseRequestTarget } from './request-target.ts'

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>
/** A fallback (the static client): resolves true when it answered the request. */
export type FallbackHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>

export class HttpRoutes {
  private readonly routes = new Map<string, RouteHandler>()
  private readonly fallbacks: FallbackHandler[] = []

  constructor(private readonly log: Logger) {}

  /** Answers requests for exactly `pathname` with `handler`. */
  route(pathname: string, handler: RouteHandler): this {
    this.routes.set(pathname, handler)
    return this
  }

  /** Tried in order for paths without a route. */
  fallback(handler: FallbackHandler): this {
    this.fallbacks.push(handler)
    return this
  }

  /** The `request` listener for node:http. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatch(req, res).catch((err) => {
      this.log.error({ err, url: req.url }, 'http handler failed')
      if (!res.headersSent)
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n')
      else res.destroy()
    })
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseRequestTarget(req.url)
    if (!url) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('malformed request target\n')
      return
    }
    const route = this.routes.get(url.pathname)
    if (route) return route(req, res, url)
    for (const fallback of this.fallbacks) if (await fallback(req, res, url)) return
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
  }
}

/** Writes `body` as a JSON response with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}
