/**
 * Parses an HTTP request's target (`req.url`) without throwing: whatever bytes a client sends as
 * the path, the result is a URL or null, never an exception inside a network callback.
 */

/** The request target as a URL (relative to a dummy origin), or null if it does not parse. */
export function parseRequestTarget(target: string | undefined): URL | null {
  // Only origin-form targets ("/path?query") are served; "//host/x" would parse as another host.
  if (target?.[0] !== '/' || target[1] === '/') return null
  try {
    return new URL(target, 'http://localhost')
  } catch {
    return null
  }
}
