#!/usr/bin/env node
/**
 * `npm start`: builds the browser client with Vite when the build is missing or older than its
 * sources, then runs the server (which serves the client and the relay on one port). Flags after
 * `npm start --` are passed to the server.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const client = join(root, 'client')
const built = join(client, 'dist', 'index.html')

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

if (existsSync(join(client, 'index.html'))) {
  const sharedDir = join(root, 'shared')
  const stale = !existsSync(built) || statSync(built).mtimeMs < Math.max(newest(client), newest(sharedDir))
  if (stale) {
    console.error('building the client (vite build)...')
    const result = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build'], {
      cwd: root,
      stdio: 'inherit',
    })
    if (result.status !== 0) process.exit(result.status ?? 1)
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
