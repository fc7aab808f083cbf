/**
 * Where a store's worker thread starts. From TypeScript source, `<name>-entry.mjs` beside the
 * caller (it loads `<name>-worker.ts` through tsx's API: a worker does not get the parent's tsx
 * hooks on every Node version and runner); compiled (`dist/`, `.js`) or bundled (`.mjs`),
 * `<name>-worker` with the caller's own extension, run directly.
 */
import { extname } from 'node:path'

/** The entry file of worker `name` (e.g. `sqlite-background`) for a module at `callerUrl`. */
export function workerEntry(name: string, callerUrl: string): URL {
  const extension = extname(new URL(callerUrl).pathname)
  const entry = extension === '.ts' ? `./${name}-entry.mjs` : `./${name}-worker${extension}`
  return new URL(entry, callerUrl)
}
