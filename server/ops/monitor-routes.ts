/**
 * The monitoring endpoints, `/health`, `/ready` and `/metrics`, and who may read what. Authorized
 * means: no `monitorToken` is set, or the request carries `Authorization: Bearer <monitorToken>`.
 *
 *   listener                      /health                        /metrics                 /ready
 *   public (no monitorPort)       details if authorized,         authorized, else 401     anyone
 *                                 else {status}
 *   public (monitorPort set)      {status}                       404                      anyone
 *   monitor (monitorPort)         as the first row               as the first row         anyone
 *
 * `/health`'s status code (200, or 503 while degraded or closing) is the same for everyone: load
 * balancers need no token.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { type HttpRoutes, sendJson } from '../http/http-routes.ts'
import { type HealthSources, healthReport } from './health.ts'

export interface MonitorRouteOptions {
  health: HealthSources
  metrics: { scrape(): Promise<{ contentType: string; body: string }> }
  /** Why this instance is not ready (empty: ready); see readiness.ts. */
  readiness(): Promise<string[]>
  /** The bearer token that authorizes details and metrics, or null: everyone is authorized. */
  token: string | null
  /** The public listener of a server with a separate monitoring port: bare `/health`, no `/metrics`. */
  publicOnly: boolean
}

/** Adds the monitoring routes to `routes` (see the module comment for the rules). */
export function addMonitorRoutes(routes: HttpRoutes, options: MonitorRouteOptions): HttpRoutes {
  const expected = options.token === null ? null : digest(options.token)
  const authorized = (req: IncomingMessage): boolean => {
    if (options.publicOnly) return false
    if (expected === null) return true
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
    return match !== null && timingSafeEqual(digest(match[1]), expected)
  }
  routes.route('/health', (req, res) => {
    const { code, body } = healthReport(options.health, authorized(req))
    sendJson(res, code, body)
  })
  routes.route('/ready', async (_req, res) => {
    const reasons = await options.readiness()
    if (reasons.length === 0) sendJson(res, 200, { status: 'ready' })
    else sendJson(res, 503, { status: 'not ready', reasons })
  })
  if (options.publicOnly) return routes
  routes.route('/metrics', async (req, res) => {
    if (!authorized(req)) {
      res
        .writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' })
        .end('monitoring token required\n')
      return
    }
    const { contentType, body } = await options.metrics.scrape()
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body)
  })
  return routes
}

/** A fixed-length digest, so comparing tokens takes the same time whatever their lengths. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
