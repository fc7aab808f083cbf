/**
 * Serves the built browser client with sirv: `/` and `/r/<room>` get the app shell (index.html),
 * `/r/<room>/live` the live page (live.html), other paths map to files under the static directory
 * (anything else is left to the router's 404).
 * A file with a precompressed sibling (`.br`, `.gz`, written by the client build) is sent as that
 * sibling to a browser that accepts its encoding, with `Vary: Accept-Encoding`; ETags answer
 * revalidations with 304. Hashed `/assets/*` are cached forever; the shell, the service worker and
 * everything else are revalidated every time so a deploy is picked up. Every response carries the
 * security headers (`security-headers.ts`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import sirv from 'sirv'
import { securityHeaders } from './security-headers.ts'

const IMMUTABLE = 'public, max-age=31536000, immutable'

/** The page a path is served: the live page, the app shell, or null for a file of its own. */
function pageFor(pathname: string): string | null {
  if (/^\/r\/[^/]+\/live\/?$/.test(pathname)) return '/live.html'
  return pathname === '/' || pathname.startsWith('/r/') ? '/index.html' : null
}

/** Returns a handler that serves `dir`; it resolves false when it did not answer the request. */
export function createStaticHandler(dir: string) {
  // Files are looked up per request (sirv's `dev` mode) rather than listed once at startup: the client
  // may be rebuilt under a running server (`npm run build` beside `npm run server`), and a listing
  // would keep the old files' sizes. Lookups stay inside `dir`; `extensions: []` maps no path to
  // another file (`/x` is not `/x.html`).
  const serve = sirv(dir, { dev: true, etag: true, brotli: true, gzip: true, extensions: [] })
  // `pathname` is the request target's parsed path (dot segments resolved, still percent-encoded).
  return (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return Promise.resolve(false)
    // sirv reads req.url: give it the parsed path (no query), or the page's.
    req.url = pageFor(pathname) ?? pathname
    // Set before sirv answers so that its 304s carry them too (sirv keeps headers already set).
    for (const [name, value] of Object.entries(securityHeaders(req.headers.host))) res.setHeader(name, value)
    res.setHeader('cache-control', pathname.startsWith('/assets/') ? IMMUTABLE : 'no-cache')
    res.setHeader('vary', 'Accept-Encoding')
    return new Promise((resolve) => {
      // sirv answers or calls next synchronously (its lookups are synchronous); the first resolve wins.
      serve(req, res, () => {
        res.removeHeader('cache-control')
        res.removeHeader('vary')
        resolve(false)
      })
      resolve(true)
    })
  }
}
