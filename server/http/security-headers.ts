/**
 * The headers every page and file of the browser client is served with: a Content-Security-Policy
 * that allows only the page's own scripts and the relay's WebSocket, `nosniff`, and
 * `Referrer-Policy: no-referrer`.
 */

/**
 * The page's policy: scripts, workers, fonts, images and the manifest from this origin only;
 * WebSockets to this host only. Styles allow 'unsafe-inline' because CodeMirror injects style
 * elements where a browser lacks adopted stylesheets, and y-codemirror.next puts each remote
 * caret's colour in a style attribute (with setAttribute, which the CSP treats as inline); that
 * colour is checked to be #hex on the server and again in the client (shared/protocol/presence.ts).
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

/** The security headers for a response to a request with `host` (its `Host` header). */
export function securityHeaders(host: string | undefined): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(host),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  }
}
