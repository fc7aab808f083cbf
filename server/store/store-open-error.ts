/**
 * Why a database file could not be opened, in words an operator can act on. `storeOpenError` looks at
 * the file system first (a directory at the path, a file where a parent directory should be) and then at
 * the error's code (SQLite result codes from better-sqlite3, errno codes from node:fs), and words one
 * line: "cannot open database PATH: REASON; ADVICE".
 */
import { accessSync, constants, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** The database at `path` could not be opened or set up; `message` names the file and what to do. */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError'
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly advice: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot open database ${path}: ${reason}; ${advice}`, options)
  }
}

const OTHER_PATH = 'pass another file with --db or TANDEM_DB'

/** Explains `cause`, thrown while opening the database at `path`, as a StoreOpenError. */
export function storeOpenError(path: string, cause: unknown): StoreOpenError {
  const explain = (reason: string, advice: string) => new StoreOpenError(path, reason, advice, { cause })
  const code = (cause as { code?: unknown } | null)?.code
  const codeText = typeof code === 'string' ? code : ''

  if (statOf(path)?.isDirectory())
    return explain('it is a directory', 'pass a file path with --db or TANDEM_DB')
  const ancestor = nearestExisting(dirname(resolve(path)))
  if (ancestor && !ancestor.stats.isDirectory())
    return explain(
      `${ancestor.path} is a file, not a directory`,
      'pass a path inside a directory with --db or TANDEM_DB',
    )

  if (codeText === 'SQLITE_NOTADB' || codeText.startsWith('SQLITE_CORRUPT'))
    return explain(
      'it is not a SQLite database (or is corrupt)',
      `move it aside and restart, or ${OTHER_PATH}`,
    )
  if (codeText.startsWith('SQLITE_BUSY') || codeText.startsWith('SQLITE_LOCKED'))
    return explain(
      'database is locked (another tandem server is probably using it)',
      `stop that server, or ${OTHER_PATH}`,
    )
  if (codeText === 'SQLITE_FULL' || codeText === 'ENOSPC')
    return explain('the disk is full', 'free some space and restart')

  // Permissions: SQLite needs to write the file and to create its -wal and -shm files beside it.
  const unwritable = [path, dirname(path)].find((p) => statOf(p) && !writable(p)) ?? unwritableAncestor(path)
  if (unwritable !== undefined) {
    const what = statOf(unwritable)?.isDirectory() ? 'directory' : 'file'
    if (readOnlyFileSystem(unwritable))
      return explain(`${what} ${unwritable} is on a read-only file system`, OTHER_PATH)
    return explain(
      `permission denied: the server cannot write to ${what} ${unwritable}`,
      `give the server's user write access to it, or ${OTHER_PATH}`,
    )
  }

  const detail = cause instanceof Error ? cause.message : String(cause)
  return explain(
    codeText ? `${detail} (${codeText})` : detail,
    `check the path and its permissions, or ${OTHER_PATH}`,
  )
}

function statOf(path: string) {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}

function readOnlyFileSystem(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return false
  } catch (err) {
    return (err as { code?: unknown }).code === 'EROFS'
  }
}

/** The deepest existing path at or above `dir`, with its stats. */
function nearestExisting(dir: string) {
  for (let path = dir; ; path = dirname(path)) {
    const stats = statOf(path)
    if (stats) return { path, stats }
    if (dirname(path) === path) return undefined
  }
}

/** When the file's directory does not exist yet: the existing ancestor it would be created in, if unwritable. */
function unwritableAncestor(path: string): string | undefined {
  const ancestor = nearestExisting(dirname(resolve(path)))
  return ancestor && !writable(ancestor.path) ? ancestor.path : undefined
}
