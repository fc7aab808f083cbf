/**
 * Serves the built browser client: `/` and `/r/<room>` get the app shell (index.html), other paths
 * map to files under the static directory. Hashed assets are cached forever; the shell and the
 * service worker are revalidated every time so a deploy is picked up. Every response carries a
 * Content-Security-Policy that allows only the page's own scripts and the relay's WebSocket (see
 * `contentSecurityPolicy`), `nosniff` and `Referrer-Policy: no-referrer`.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
}

/**
 * The page's policy: scripts, workers, fonts, images and the manifest from this origin only;
 * WebSockets to this host only. Styles allow 'unsafe-inline' because CodeMirror injects style
 * elements and y-codemirror.next puts each remote caret's colour in a style attribute.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const relay = host && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? ` ws://${host} wss://${host}` : ''
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self'${relay}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** Returns a handler that serves `dir`; it answers false when it did not handle the request. */
export function createStaticHandler(dir: string) {
  const root = resolve(dir)
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    const isShell = pathname === '/' || pathname.startsWith('/r/')
    const file = isShell ? join(root, 'index.html') : resolve(root, `.${decodeURIComponentSafe(pathname)}`)
    if (!file.startsWith(root + sep)) return false
    let size: number
    try {
      const info = await stat(file)
      if (!info.isFile()) return false
      size = info.size
    } catch {
      return false
    }
    const immutable = pathname.startsWith('/assets/')
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-security-policy': contentSecurityPolicy(req.headers.host),
      'referrer-policy': 'no-referrer',
    })
    if (req.method === 'HEAD') res.end()
    else createReadStream(file).pipe(res)
    return true
  }
}

function decodeURIComponentSafe(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}
