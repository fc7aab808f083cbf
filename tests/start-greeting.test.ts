/**
 * What a person sees when the server starts: the real `server/main.ts` process prints one plain
 * greeting line naming the real URL and where documents are kept; its logs are JSON when stdout is
 * not a terminal, readable lines with `LOG_FORMAT=pretty` (or `--log-format pretty`), and a bad
 * format is a one-line startup error with exit code 2. A SIGTERM the moment it first writes (before
 * the greeting) stops it gracefully, with exit code 0.
 *
 * The production build runs as built: `npm run build` in a scratch copy of the sources (the working
 * tree's client/dist and dist/ are left alone) compiles the server to plain JavaScript, and
 * `node dist/server/main.js` (no tsx) greets, stores in SQLite through its compiled background
 * thread, and serves the client with the main bundle Brotli-compressed. One build per run: it is slow.
 */
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, readFileSync, symlinkSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { brotliDecompressSync } from 'node:zlib'
import { beforeAll, describe, expect, it } from 'vitest'
import { cleanupAfterEach, makeTempDir, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const root = join(import.meta.dirname, '..')
const GREETING = /^Tandem is running at http:\/\/localhost:(\d+)\/ /

interface Run {
  /** Every stdout line, in order. */
  lines: string[]
  stderr: string
  code: number | null
}

/** Where a server process runs from: a directory and the node arguments before the server's flags. */
interface ServerEntry {
  cwd: string
  entry: string[]
}

/** The TypeScript sources of this tree, through tsx. */
const FROM_SOURCE: ServerEntry = { cwd: root, entry: ['--import', 'tsx', 'server/main.ts'] }

/**
 * Runs the server (`from`: `server/main.ts` unless given) with `args` and `env` (LOG_FORMAT unset
 * unless given), stdout a pipe. With `whileUp`, waits for the greeting, calls `whileUp` with the port
 * it names, then stops the server with SIGTERM; without, waits for the process to exit on its own.
 */
async function runServer(
  args: string[],
  env: Record<string, string> = {},
  whileUp?: (port: number) => Promise<void>,
  from: ServerEntry = FROM_SOURCE,
): Promise<Run> {
  const { LOG_FORMAT: _, ...inherited } = process.env
  const child = spawn(process.execPath, [...from.entry, ...args], {
    cwd: from.cwd,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve(code))
  })
  if (whileUp) {
    let exitCode: number | null | undefined
    void exited.then((code) => {
      exitCode = code
    })
    const greetingPort = () => {
      const match = stdout
        .split('\n')
        .map((line) => GREETING.exec(line))
        .find(Boolean)
      return match ? Number(match[1]) : undefined
    }
    await waitFor(() => greetingPort() !== undefined || exitCode !== undefined, 'the greeting')
    expect(exitCode, `server exited early; stderr: ${stderr}`).toBeUndefined()
    await whileUp(greetingPort()!)
    child.kill('SIGTERM')
  }
  const code = await exited
  return { lines: stdout.split('\n').filter((line) => line !== ''), stderr, code }
}

/** A temp directory, removed after the test. */
function tempDir(): string {
  const { dir, cleanup } = makeTempDir('tandem-greeting-')
  cleanups.push(cleanup)
  return dir
}

describe('npm start greets the user', () => {
  it('names the real port and the database file; every other stdout line is JSON when piped', async () => {
    const db = join(tempDir(), 't.db')
    let boundPort = 0
    const run = await runServer(['--port', '0', '--db', db, '--static-dir', ''], {}, async (port) => {
      boundPort = port
      // The port in the greeting is the one the server listens on.
      const health = await fetch(`http://127.0.0.1:${port}/health`)
      expect(health.status).toBe(200)
    })
    expect(run.code).toBe(0)
    const greetings = run.lines.filter((line) => line.startsWith('Tandem'))
    expect(greetings).toEqual([
      `Tandem is running at http://localhost:${boundPort}/ (storage: SQLite, data in ${db}) ` +
        '(API and WebSocket only; no browser client served) ' +
        '(rooms are open to anyone with the URL; set TANDEM_AUTH_SECRET to require signed links)',
    ])
    const logs = run.lines
      .filter((line) => !line.startsWith('Tandem'))
      .map((line) => JSON.parse(line))
      // The stall monitor may speak on a loaded machine (a slow start); that is not the greeting's business.
      .filter((entry) => !String(entry.msg).startsWith('event loop stalled'))
    expect(logs.map((entry) => entry.msg)).toEqual([
      'listening',
      'access control is off: rooms are open to anyone with the URL (set TANDEM_AUTH_SECRET)',
      'shutting down',
      'closed',
    ])
    expect(logs[0]).toMatchObject({ level: 30, port: boundPort, storage: 'sqlite' })
    expect(run.stderr).toBe('')
  })

  it('LOG_FORMAT=pretty writes readable lines with the level name; memory storage says nothing is kept', async () => {
    const run = await runServer(
      ['--port', '0', '--storage', 'memory', '--static-dir', ''],
      { LOG_FORMAT: 'pretty' },
      async () => {},
    )
    expect(run.code).toBe(0)
    const [greeting, ...others] = [
      run.lines.find((line) => line.startsWith('Tandem'))!,
      ...run.lines.filter((line) => !line.startsWith('Tandem') && !line.includes('event loop stalled')),
    ]
    expect(greeting).toMatch(
      /^Tandem is running at http:\/\/localhost:\d+\/ \(storage: in memory — nothing is kept after the server stops\) /,
    )
    expect(others).toHaveLength(4)
    for (const line of others) {
      expect(() => JSON.parse(line)).toThrow()
      expect(line).toMatch(/^\[\d\d:\d\d:\d\d\] .*(INFO|WARN).*: /)
    }
    expect(others[0]).toContain('listening')
  })

  it('--log-format wins over LOG_FORMAT', async () => {
    const run = await runServer(
      ['--port', '0', '--storage', 'memory', '--static-dir', '', '--log-format', 'json'],
      { LOG_FORMAT: 'pretty' },
      async () => {},
    )
    expect(run.code).toBe(0)
    for (const line of run.lines.filter((l) => !l.startsWith('Tandem')))
      expect(JSON.parse(line)).toHaveProperty('msg')
  })

  it('an invalid LOG_FORMAT is a one-line startup error with exit code 2', async () => {
    const run = await runServer(['--port', '0', '--storage', 'memory', '--static-dir', ''], {
      LOG_FORMAT: 'xml',
    })
    expect(run.code).toBe(2)
    expect(run.lines).toEqual([])
    expect(run.stderr).toBe('tandem: --log-format / LOG_FORMAT must be json or pretty, got "xml"\n')
  })
})

describe('a signal as the server starts', () => {
  it('SIGTERM the moment the server first writes stops it gracefully: exit code 0, not killed', async () => {
    const { LOG_FORMAT: _, ...inherited } = process.env
    const child = spawn(
      process.execPath,
      [...FROM_SOURCE.entry, '--port', '0', '--storage', 'memory', '--static-dir', ''],
      { cwd: root, env: inherited, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    })
    let stdout = ''
    let stderr = ''
    // Its first output (the "listening" line, before the greeting) comes after the shutdown
    // handlers are in place: the signal is sent in the same callback, with no wait.
    child.stdout.once('data', () => child.kill('SIGTERM'))
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]))
    })
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(stdout).toContain('"msg":"shutting down"')
    expect(stdout).toContain('"msg":"closed"')
  })
})

/** GET `path` from 127.0.0.1:`port` with `headers`; the body as it came, not decoded. */
function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      request({ host: '127.0.0.1', port, path, headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        )
      })
        .on('error', reject)
        .end()
    },
  )
}

describe('the production build', () => {
  /** What `npm run build` reads. */
  const SOURCES = [
    'client',
    'server',
    'shared',
    'scripts',
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
  ]
  let copy: string
  let buildOutput: string

  beforeAll(() => {
    const temp = makeTempDir('tandem-production-')
    copy = temp.dir
    for (const path of [...SOURCES, 'vite.config.ts']) {
      cpSync(join(root, path), join(copy, path), {
        recursive: true,
        filter: (source) => !/[/\\](dist|node_modules)$/.test(source),
      })
    }
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir')
    const build = spawnSync('npm', ['run', 'build'], { cwd: copy, encoding: 'utf8' })
    buildOutput = `${build.stdout}${build.stderr}`
    expect(build.status, buildOutput).toBe(0)
    return temp.cleanup
  }, 240_000)

  it('prints one summary line per part and writes plain JavaScript importing no .ts', () => {
    expect(buildOutput).toMatch(/^Built the browser client in [\d.]+ s \(client\/dist, [\d.]+ [kM]B\)$/m)
    expect(buildOutput).toMatch(/^Built the server in [\d.]+ s \(dist, [\d.]+ [kM]B\)$/m)
    for (const file of ['server/main.js', 'server/store/sqlite-background-worker.js', 'scripts/token.js']) {
      expect(existsSync(join(copy, 'dist', file)), file).toBe(true)
    }
    expect(readFileSync(join(copy, 'dist/server/server.js'), 'utf8')).not.toMatch(/from '\.[^']*\.ts'/)
  })

  it('node dist/server/main.js greets, keeps documents in SQLite and serves the compressed client', async () => {
    const db = join(copy, 'data/t.db')
    const built: ServerEntry = { cwd: copy, entry: ['dist/server/main.js'] }
    const run = await runServer(
      ['--port', '0', '--db', db],
      { LOG_FORMAT: 'json' },
      async (port) => {
        const shell = await get(port, '/r/some-room', { 'accept-encoding': 'br' })
        expect(shell.status).toBe(200)
        expect(shell.headers['cache-control']).toBe('no-cache')
        const html = brotliDecompressSync(shell.body).toString()
        const script = /<script type="module" crossorigin src="(\/assets\/index-[\w-]+\.js)">/.exec(html)?.[1]
        expect(script, html).toBeTruthy()
        const bundle = await get(port, script!, { 'accept-encoding': 'gzip, deflate, br' })
        expect(bundle.status).toBe(200)
        expect(bundle.headers['content-encoding']).toBe('br')
        expect(bundle.headers['cache-control']).toBe('public, max-age=31536000, immutable')
        const raw = readFileSync(join(copy, 'client/dist', script!))
        expect(brotliDecompressSync(bundle.body).equals(raw)).toBe(true)
        expect(bundle.body.length).toBeLessThan(raw.length / 2)
        expect((await get(port, '/health')).status).toBe(200)
      },
      built,
    )
    expect(run.code).toBe(0)
    expect(run.stderr).toBe('')
    const greeting = run.lines.find((line) => line.startsWith('Tandem'))
    // SQLite, and no "no browser client built": client/dist was built beside it.
    expect(greeting).toMatch(
      /^Tandem is running at http:\/\/localhost:\d+\/ \(storage: SQLite, data in [^)]*\) \(rooms/,
    )
    expect(existsSync(db)).toBe(true)
  })
})
