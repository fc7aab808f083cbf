#!/usr/bin/env node
/**
 * `npm start`: builds the browser client (Vite, client/dist) and the server (tsc, dist/) when a
 * build is missing or older than its sources (`scripts/build.mjs`), then runs the compiled server
 * with plain `node dist/server/main.js` (it serves the client and the relay on one port). Flags
 * after `npm start --` are passed to the server; SIGINT and SIGTERM are forwarded to it. A build
 * prints one summary line (warnings and errors still show in full; a failed build exits non-zero);
 * an up-to-date build prints nothing.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildStale } from './build.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

// A tree without the client's sources (a server-only checkout) builds and runs the server alone.
if (!buildStale(existsSync(join(root, 'client/index.html')) ? ['client', 'server'] : ['server'])) {
  console.error('The server was not started.')
  process.exit(1)
}

const server = spawn(process.execPath, [join(root, 'dist/server/main.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal))
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
