#!/usr/bin/env node
/**
 * The production build, in two parts: the browser client (Vite into client/dist, with .br/.gz
 * siblings) and the server (tsc -p tsconfig.build.json into dist/: server/, the shared/ modules it
 * imports and scripts/token.ts, as plain JavaScript that `node` runs without tsx).
 *
 *   node scripts/build.mjs                       build both parts (`npm run build`)
 *   node scripts/build.mjs --if-stale [part...]  build only parts older than their sources
 *
 * Each build prints one summary line (compiler warnings and errors still show in full); a failed
 * build exits non-zero. `scripts/start.mjs` uses `buildStale` before it starts the server. Where the
 * build tools are not installed (`npm ci --omit=dev` after a build), an existing build is used as it
 * is, with a notice if its sources look newer.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const at = (...path) => join(root, ...path)

/** What each part is built from, what it produces, and how. */
const PARTS = {
  client: {
    title: 'the browser client',
    sources: [at('client'), at('shared'), at('vite.config.ts')],
    outDir: at('client/dist'),
    output: at('client/dist/index.html'),
    tool: at('node_modules/vite/bin/vite.js'),
    // --logLevel warn drops Vite's per-asset listing; warnings and build errors still print in full.
    args: ['build', '--logLevel', 'warn'],
  },
  server: {
    title: 'the server',
    sources: [
      at('server'),
      at('shared'),
      at('scripts/token.ts'),
      at('tsconfig.json'),
      at('tsconfig.build.json'),
    ],
    outDir: at('dist'),
    output: at('dist/server/main.js'),
    tool: at('node_modules/typescript/bin/tsc'),
    args: ['-p', 'tsconfig.build.json'],
  },
}

/** Newest modification time of `path` or any file under it (skipping build output); 0 if missing. */
function newest(path) {
  if (!existsSync(path)) return 0
  const info = statSync(path)
  if (!info.isDirectory()) return info.mtimeMs
  let latest = 0
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue
    latest = Math.max(latest, newest(join(path, entry.name)))
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

/** True when `name`'s output is missing or older than one of its sources. */
export function isStale(name) {
  const part = PARTS[name]
  if (!existsSync(part.output)) return true
  return statSync(part.output).mtimeMs < Math.max(...part.sources.map(newest))
}

/** Builds `name` and prints its summary line; on failure prints why and returns false. */
export function build(name) {
  const part = PARTS[name]
  const started = performance.now()
  // Stale files of a previous build (a module since removed) must not linger; Vite empties its own.
  if (name === 'server') rmSync(part.outDir, { recursive: true, force: true })
  const result = spawnSync(process.execPath, [part.tool, ...part.args], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    const how =
      result.error?.message ?? (result.signal ? `killed by ${result.signal}` : `exit code ${result.status}`)
    console.error(`Building ${part.title} failed (${how}).`)
    return false
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const where = relative(root, part.outDir)
  console.log(`Built ${part.title} in ${seconds} s (${where}, ${formatBytes(sizeOf(part.outDir))})`)
  return true
}

/**
 * Builds each of `names` that is stale; false when one failed (it printed why). Without its build
 * tool (a production install), an existing output is used with a notice; a missing one fails.
 */
export function buildStale(names) {
  for (const name of names) {
    if (!isStale(name)) continue
    const part = PARTS[name]
    const where = relative(root, part.outDir)
    if (existsSync(part.tool)) {
      if (!build(name)) return false
    } else if (!existsSync(part.output)) {
      console.error(
        `${where} is not built and the build tools are not installed; run npm ci && npm run build.`,
      )
      return false
    } else {
      console.error(
        `${where} is older than its sources but the build tools are not installed; using it as built.`,
      )
    }
  }
  return true
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { 'if-stale': { type: 'boolean' } },
    allowPositionals: true,
  })
  const unknown = positionals.filter((name) => !(name in PARTS))
  if (unknown.length > 0) {
    console.error(`Unknown build part ${unknown.join(', ')}; the parts are ${Object.keys(PARTS).join(', ')}.`)
    process.exit(2)
  }
  const names = positionals.length > 0 ? positionals : Object.keys(PARTS)
  const built = values['if-stale'] ? buildStale(names) : names.every((name) => build(name))
  if (!built) process.exit(1)
}
