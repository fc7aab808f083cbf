/**
 * Startup with a database that cannot be opened: the real `server/main.ts` process, given a bad `--db`
 * (a corrupt file, a directory, a path under a regular file, an unwritable directory, a file another
 * server holds), exits with code 1 and prints exactly one line naming the file and saying what to do,
 * with no stack trace.
 */
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cleanupAfterEach, makeTempDir, spawnServer } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const root = join(import.meta.dirname, '..')
const OTHER_PATH = 'pass another file with --db or TANDEM_DB'

/** A temp directory other users may enter (so an unprivileged child can reach files in it). */
function tempDir(): string {
  const { dir, cleanup } = makeTempDir('tandem-startup-')
  chmodSync(dir, 0o755)
  cleanups.push(cleanup)
  return dir
}

/** Runs `server/main.ts --db db` to its exit; resolves with the exit code and stderr. */
function startServerProcess(
  db: string,
  options: SpawnOptions = {},
): Promise<{ code: number | null; stderr: string }> {
  const args = ['--import', 'tsx', 'server/main.ts', '--port', '0', '--host', '127.0.0.1', '--db', db]
  const child = spawn(process.execPath, [...args, '--static-dir', ''], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...options,
  })
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stderr }))
  })
}

/** Asserts the process failed with exactly `line` on stderr: no usage text, no stack trace. */
function expectStartupError(result: { code: number | null; stderr: string }, line: string): void {
  expect(result.stderr).not.toMatch(/^\s+at /m)
  expect(result.stderr).toBe(`${line}\n`)
  expect(result.code).toBe(1)
}

/**
 * Spawn options for a user without write access to directories it does not own: none needed for an
 * ordinary user; root writes anywhere, so it runs the child as `nobody` (when that user can run node
 * and read the repository; otherwise null, and the test is skipped).
 */
function unprivileged(): SpawnOptions | null {
  if (process.getuid?.() !== 0) return {}
  const nobody = { uid: 65534, gid: 65534 }
  const probe = spawnSync(
    process.execPath,
    ['-e', `require('node:fs').accessSync(${JSON.stringify(join(root, 'server/main.ts'))})`],
    nobody,
  )
  return probe.status === 0 ? nobody : null
}

describe('the server refuses to start on a database it cannot open', () => {
  it('a file of random bytes', async () => {
    const db = join(tempDir(), 'random.db')
    writeFileSync(db, randomBytes(8192))
    expectStartupError(
      await startServerProcess(db),
      `tandem: cannot open database ${db}: it is not a SQLite database (or is corrupt); ` +
        `move it aside and restart, or ${OTHER_PATH}`,
    )
  })

  it('a text file', async () => {
    const db = join(tempDir(), 'notes.db')
    writeFileSync(db, 'meeting notes, not a database\n'.repeat(200))
    expectStartupError(
      await startServerProcess(db),
      `tandem: cannot open database ${db}: it is not a SQLite database (or is corrupt); ` +
        `move it aside and restart, or ${OTHER_PATH}`,
    )
  })

  it('a directory at the path', async () => {
    const db = join(tempDir(), 'tandem.db')
    mkdirSync(db)
    expectStartupError(
      await startServerProcess(db),
      `tandem: cannot open database ${db}: it is a directory; pass a file path with --db or TANDEM_DB`,
    )
  })

  it('a path whose parent is a regular file', async () => {
    const parent = join(tempDir(), 'data')
    writeFileSync(parent, 'a file, not a folder\n')
    for (const db of [join(parent, 'tandem.db'), join(parent, 'deeper', 'tandem.db')]) {
      expectStartupError(
        await startServerProcess(db),
        `tandem: cannot open database ${db}: ${parent} is a file, not a directory; ` +
          'pass a path inside a directory with --db or TANDEM_DB',
      )
    }
  })

  it('an unwritable directory', async (ctx) => {
    const options = unprivileged()
    if (!options) ctx.skip()
    const dir = join(tempDir(), 'readonly')
    mkdirSync(dir, { mode: 0o555 })
    cleanups.push(() => chmodSync(dir, 0o755))
    for (const db of [join(dir, 'tandem.db'), join(dir, 'missing', 'tandem.db')]) {
      expectStartupError(
        await startServerProcess(db, options!),
        `tandem: cannot open database ${db}: permission denied: the server cannot write to directory ${dir}; ` +
          `give the server's user write access to it, or ${OTHER_PATH}`,
      )
    }
  })

  it('a file another running server holds', async () => {
    const db = join(tempDir(), 'owned.db')
    const first = await spawnServer(db)
    cleanups.push(() => first.stop())
    // SQLite waits out its busy timeout (5 s) before reporting the lock.
    expectStartupError(
      await startServerProcess(db),
      `tandem: cannot open database ${db}: database is locked (another tandem server is probably using it); ` +
        `stop that server, or ${OTHER_PATH}`,
    )
    expect(first.process.exitCode).toBe(null)
  })
})
