#!/usr/bin/env node
/**
 * `npm start`: builds the browser client with Vite when the build is missing or older than its
 * sources, then runs the server (which serves the client and the relay on one port). Flags after
 * `npm start --` are passed to the server. A build prints one summary line (Vite's warnings and
 * errors still show in full; a failed build exits non-zero); an up-to-date build prints nothing.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const client = join(root, 'client')
const dist = join(client, 'dist')
const built = join(dist, 'index.html')

/** Newest modification time of any file under `dir` (skipping the build output). */
function newest(dir) {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** Total size in bytes of the files under `dir`. */
function sizeOf(dir) {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? sizeOf(path) : statSync(path).size
  }
  return total
}

/** `bytes` in decimal units, as Vite reports sizes: "840 kB", "1.3 MB". */
function formatBytes(bytes) {
  if (bytes < 1e6) return `${Math.round(bytes / 1e3)} kB`
  return `${(bytes / 1e6).toFixed(1)} MB`
}

if (existsSync(join(client, 'index.html'))) {
  const sharedDir = join(root, 'shared')
  const stale = !existsSync(built) || statSync(built).mtimeMs < Math.max(newest(client), newest(sharedDir))
  if (stale) {
    const started = performance.now()
    // --logLevel warn drops Vite's per-asset listing; warnings and build errors still print in full.
    const vite = join(root, 'node_modules/vite/bin/vite.js')
    const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], {
      cwd: root,
      stdio: 'inherit',
    })
    if (result.status !== 0) {
      const how =
        result.error?.message ?? (result.signal ? `killed by ${result.signal}` : `exit code ${result.status}`)
      console.error(`Building the browser client failed (${how}); the server was not started.`)
      process.exit(result.status || 1)
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    console.log(`Built the browser client in ${seconds} s (client/dist, ${formatBytes(sizeOf(dist))})`)
  }
}

const server = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'server/main.ts'), ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal))
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
