/**
 * DocStore on an embedded SQLite database (better-sqlite3), in WAL mode.
 *
 * Schema: `snapshots(room PRIMARY KEY, data)`, `policies(room PRIMARY KEY, data)` (JSON: the
 * mode), `revocations(room, jti, until)` (one row per revoked token id, so a revocation writes one
 * row whatever the room holds; lists an older version kept in `policies.data` are moved there at
 * open) and `updates(room, seq, data)`, a WITHOUT ROWID table
 * clustered on (room, seq): one B-tree, so appending an update dirties one page rather than a table
 * page and an index page. `seq` is a process-wide counter (the file has one owner, see below), so a
 * room's log reads back in append order. Each appended update is also a change, numbered in the
 * transaction that stores it (`changes`, see sqlite-change-log.ts); compactions prune the changes to
 * `changeRetention` and leave them alone otherwise. `append` writes a whole batch in one
 * transaction (the relay's group commit).
 * With `synchronous=NORMAL` a committed transaction is in the WAL file in the OS page cache: it
 * survives a crash of this process, not a power loss. `FULL` fsyncs the WAL on every commit.
 *
 * One server process owns the file: a second server on the same file fails at once with "database
 * is locked" instead of splitting a room's state between two processes.
 *
 * Two ways to run it:
 * - plain (tests, tools): `locking_mode=EXCLUSIVE` is the ownership, and commits skip the
 *   per-transaction file-lock and shared-memory syscalls; SQLite checkpoints the WAL inside a commit
 *   every 1,000 pages (an fsync and a few to tens of ms on the caller's thread);
 * - with `background` (the server): a second connection in a worker thread (`sqlite-background.ts`)
 *   runs the checkpoints and the log merges, so neither ever runs on the relay's event loop, while
 *   appends stay on this thread (a commit is ~30 µs; a worker round trip cost ~100). Ownership is
 *   then an exclusive lock on `<db>.lock`, held for the process's life and released by the OS if it
 *   dies.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import {
  type ChangeRetention,
  type ChangesRead,
  type ChangesReadOptions,
  DEFAULT_CHANGE_RETENTION,
  type DocStore,
  type LogEntry,
  type Revocation,
  type RevocationResult,
  type SetAsideEntry,
  type StoredPolicy,
  type StoredRoom,
} from './doc-store.ts'
import { mergeStoredRoom } from './merge-log.ts'
import { SqliteAuthorLog } from './sqlite-author-log.ts'
import { SqliteBackground } from './sqlite-background.ts'
import { SqliteChangeLog } from './sqlite-change-log.ts'
import { SqliteVersionLog } from './sqlite-version-log.ts'
import { storeOpenError } from './store-open-error.ts'

/** SQLite `synchronous` pragma in WAL mode: NORMAL survives process crashes, FULL also power loss. */
export type SqliteSynchronous = 'NORMAL' | 'FULL'

export interface SqliteStoreOptions {
  synchronous?: SqliteSynchronous
  /** Run checkpoints and log merges in a background thread (see the module comment). */
  background?: { checkpointIntervalMs: number } | null
  /** How many changes each room keeps when it compacts (default DEFAULT_CHANGE_RETENTION). */
  changeRetention?: ChangeRetention
}

/** The WAL file is truncated back to this size after the checkpointer catches up. */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

export class SqliteStore implements DocStore {
  /** Open once constructed (the constructor throws when it cannot open). */
  readonly ready = Promise.resolve()
  readonly db: Database.Database
  /** Last `seq` written. */
  private seq: number
  private readonly insertUpdate: Database.Statement<[string, number, Uint8Array]>
  private readonly selectSnapshot: Database.Statement<[string], { data: Buffer }>
  private readonly selectUpdates: Database.Statement<[string], { data: Buffer }>
  private readonly upsertSnapshot: Database.Statement<[string, Uint8Array, number]>
  private readonly deleteUpdates: Database.Statement<[string]>
  private readonly appendAll: (entries: readonly LogEntry[]) => number[]
  private readonly replaceSnapshot: (room: string, snapshot: Uint8Array) => void
  private readonly replaceSnapshotUpTo: (room: string, snapshot: Uint8Array, upToSeq: number) => void
  private readonly selectLastSeq: Database.Statement<[string], { seq: number | null }>
  private readonly changes: SqliteChangeLog
  readonly versions: SqliteVersionLog
  readonly authors: SqliteAuthorLog
  private readonly changeRetention: ChangeRetention
  /** The checkpoint and merge thread (null: plain mode). */
  readonly background: SqliteBackground | null = null
  /** Holds `<db>.lock` exclusively while the store is open (background mode). */
  private lock: Database.Database | null = null

  /**
   * Opens (creating if needed) the database file at `path`; `:memory:` works too. Throws a
   * StoreOpenError naming the file and what to do when it cannot be opened, locked or set up.
   */
  constructor(path: string, options: SqliteStoreOptions | SqliteSynchronous = {}) {
    const {
      synchronous = 'NORMAL',
      background = null,
      changeRetention = DEFAULT_CHANGE_RETENTION,
    } = typeof options === 'string' ? { synchronous: options } : options
    this.changeRetention = changeRetention
    if (background && path === ':memory:')
      throw new Error('a :memory: database cannot have a background thread')
    let db: Database.Database | undefined
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      if (background) this.lock = takeOwnership(path)
      this.db = db = new Database(path, { timeout: 0 })
      if (background) {
        this.db.pragma('journal_mode = WAL')
        this.db.pragma('wal_autocheckpoint = 0')
        this.db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
      } else {
        this.db.pragma('locking_mode = EXCLUSIVE')
        this.db.pragma('journal_mode = WAL')
      }
      this.db.pragma(`synchronous = ${synchronous}`)
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS snapshots (
          room TEXT PRIMARY KEY,
          data BLOB NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS updates (
          room TEXT NOT NULL,
          seq INTEGER NOT NULL,
          data BLOB NOT NULL,
          PRIMARY KEY (room, seq)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS policies (
          room TEXT PRIMARY KEY,
          data TEXT NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS revocations (
          room TEXT NOT NULL,
          jti TEXT NOT NULL,
          until INTEGER NOT NULL,
          PRIMARY KEY (room, jti)
        ) WITHOUT ROWID;
      `)
      this.changes = new SqliteChangeLog(this.db)
      this.versions = new SqliteVersionLog(this.db)
      this.authors = new SqliteAuthorLog(this.db)
      this.db.transaction(() => {
        // Revocation lists an older version kept inside the policy's JSON become rows.
        this.db.exec(`
          INSERT OR IGNORE INTO revocations (room, jti, until)
            SELECT p.room, json_extract(r.value, '$.jti'), json_extract(r.value, '$.until')
            FROM policies p, json_each(p.data, '$.revoked') r;
          UPDATE policies SET data = json_remove(data, '$.revoked') WHERE json_type(data, '$.revoked') IS NOT NULL;
        `)
      })()
      const last = this.db.prepare('SELECT max(seq) AS seq FROM updates').get() as { seq: number | null }
      this.seq = last.seq ?? 0
      this.insertUpdate = this.db.prepare('INSERT INTO updates (room, seq, data) VALUES (?, ?, ?)')
      this.selectSnapshot = this.db.prepare('SELECT data FROM snapshots WHERE room = ?')
      this.selectUpdates = this.db.prepare('SELECT data FROM updates WHERE room = ? ORDER BY seq')
      this.upsertSnapshot = this.db.prepare(
        'INSERT INTO snapshots (room, data, updated_at) VALUES (?, ?, ?) ' +
          'ON CONFLICT (room) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at',
      )
      this.deleteUpdates = this.db.prepare('DELETE FROM updates WHERE room = ?')
      this.appendAll = this.db.transaction((entries: readonly LogEntry[]) => {
        const now = Date.now()
        return entries.map(({ room, update, change }) => {
          this.insertUpdate.run(room, ++this.seq, update)
          return this.changes.add(room, update, change, now)
        })
      })
      this.replaceSnapshot = this.db.transaction((room: string, snapshot: Uint8Array) => {
        const now = Date.now()
        this.upsertSnapshot.run(room, snapshot, now)
        this.deleteUpdates.run(room)
        this.changes.prune(room, this.changeRetention, now)
      })
      const deleteUpdatesUpTo = this.db.prepare('DELETE FROM updates WHERE room = ? AND seq <= ?')
      this.replaceSnapshotUpTo = this.db.transaction(
        (room: string, snapshot: Uint8Array, upToSeq: number) => {
          const now = Date.now()
          this.upsertSnapshot.run(room, snapshot, now)
          deleteUpdatesUpTo.run(room, upToSeq)
          this.changes.prune(room, this.changeRetention, now)
        },
      )
      this.selectLastSeq = this.db.prepare('SELECT max(seq) AS seq FROM updates WHERE room = ?')
    } catch (err) {
      // Some failures (not a database, locked) only show at the first pragma or query, after the open.
      if (db?.open) db.close()
      if (this.lock?.open) this.lock.close()
      throw storeOpenError(path, err)
    }
    if (background) this.background = new SqliteBackground(path, background)
  }

  async load(room: string): Promise<StoredRoom> {
    return this.read(room)
  }

  private read(room: string): StoredRoom {
    const snapshot = this.selectSnapshot.get(room)
    const updates: Uint8Array[] = []
    let logBytes = 0
    for (const row of this.selectUpdates.iterate(room)) {
      updates.push(row.data)
      logBytes += row.data.byteLength
    }
    return { snapshot: snapshot ? snapshot.data : null, updates, logBytes }
  }

  async append(entries: readonly LogEntry[]): Promise<number[]> {
    return this.appendAll(entries)
  }

  async changesSince(
    room: string,
    after: number,
    limit: number,
    options?: ChangesReadOptions,
  ): Promise<ChangesRead> {
    return this.changes.read(room, after, limit, options)
  }

  async setChangeDelta(room: string, id: number, delta: string): Promise<void> {
    this.changes.setDelta(room, id, delta)
  }

  async pruneChanges(room: string, retention: ChangeRetention, now: number): Promise<number> {
    return this.changes.prune(room, retention, now)
  }

  /**
   * With `snapshot`: stores it in place of the room's snapshot and whole log. Without: merges the
   * stored snapshot and log; with a background thread the merge runs there, over the log as it is
   * now, and only the entries it merged are deleted, so appends may go on meanwhile. The room's
   * changes are pruned to `changeRetention` in the transaction that replaces the log.
   */
  async compact(room: string, snapshot?: Uint8Array): Promise<number> {
    if (snapshot) {
      this.replaceSnapshot(room, snapshot)
      return snapshot.byteLength
    }
    if (!this.background) {
      // Read, merged and replaced without yielding: no append can fall between.
      const merged = mergeStoredRoom(this.read(room))
      this.replaceSnapshot(room, merged)
      return merged.byteLength
    }
    const upToSeq = this.selectLastSeq.get(room)?.seq ?? null
    if (upToSeq === null) {
      this.changes.prune(room, this.changeRetention, Date.now())
      return this.selectSnapshot.get(room)?.data.byteLength ?? 0
    }
    const merged = await this.background.merge(room, upToSeq)
    this.replaceSnapshotUpTo(room, merged, upToSeq)
    return merged.byteLength
  }

  /** Keeps `entries` in the `quarantine` table (room, data, reason, at), created on first use. */
  async setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void> {
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS quarantine (room TEXT NOT NULL, data BLOB NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL)',
    )
    const insert = this.db.prepare('INSERT INTO quarantine (room, data, reason, at) VALUES (?, ?, ?, ?)')
    const at = Date.now()
    this.db.transaction(() => {
      for (const entry of entries) insert.run(room, entry.data, entry.reason, at)
    })()
  }

  async setAsideEntries(room: string): Promise<SetAsideEntry[]> {
    const exists = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quarantine'")
      .get()
    if (!exists) return []
    return this.db
      .prepare('SELECT data, reason FROM quarantine WHERE room = ? ORDER BY rowid')
      .all(room) as SetAsideEntry[]
  }

  /** Reads `room`'s mode (the `policies` row) and live revocations, or null when it has neither. */
  async loadPolicy(room: string, now: number): Promise<StoredPolicy | null> {
    const row = this.db
      .prepare("SELECT json_extract(data, '$.mode') AS mode FROM policies WHERE room = ?")
      .get(room) as { mode: string | null } | undefined
    const revoked = this.db
      .prepare('SELECT jti, until FROM revocations WHERE room = ? AND until > ?')
      .all(room, now) as Revocation[]
    if (!row && revoked.length === 0) return null
    return { mode: row?.mode === 'view' ? 'view' : 'edit', revoked }
  }

  async saveMode(room: string, mode: StoredPolicy['mode']): Promise<void> {
    this.db
      .prepare(
        "INSERT INTO policies (room, data, updated_at) VALUES (?, json_object('mode', ?), ?) " +
          "ON CONFLICT (room) DO UPDATE SET data = json_set(policies.data, '$.mode', json_extract(excluded.data, '$.mode')), " +
          'updated_at = excluded.updated_at',
      )
      .run(room, mode, Date.now())
  }

  async addRevocation(
    room: string,
    { jti, until }: Revocation,
    max: number,
    now: number,
  ): Promise<RevocationResult> {
    const revoke = this.db.transaction((): RevocationResult => {
      this.db.prepare('DELETE FROM revocations WHERE room = ? AND until <= ?').run(room, now)
      const known = this.db.prepare('SELECT 1 FROM revocations WHERE room = ? AND jti = ?').get(room, jti)
      if (!known) {
        const { live } = this.db
          .prepare('SELECT count(*) AS live FROM revocations WHERE room = ?')
          .get(room) as {
          live: number
        }
        if (live >= max) return 'full'
      }
      this.db
        .prepare(
          'INSERT INTO revocations (room, jti, until) VALUES (?, ?, ?) ' +
            'ON CONFLICT (room, jti) DO UPDATE SET until = max(until, excluded.until)',
        )
        .run(room, jti, until)
      return 'added'
    })
    return revoke()
  }

  async pruneRevocations(now: number): Promise<number> {
    return this.db.prepare('DELETE FROM revocations WHERE until <= ?').run(now).changes
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get()
  }

  async close(): Promise<void> {
    await this.background?.close()
    if (this.db.open) this.db.close()
    if (this.lock?.open) this.lock.close()
  }
}

/**
 * Takes `<path>.lock` exclusively (a one-row SQLite file in exclusive locking mode, written once, so
 * its lock is held until it is closed or the process ends); throws SQLITE_BUSY if another process
 * holds it.
 */
function takeOwnership(path: string): Database.Database {
  const lock = new Database(`${path}.lock`, { timeout: 0 })
  try {
    lock.pragma('locking_mode = EXCLUSIVE')
    // No journal file beside the lock: its one row may be lost in a crash, the lock may not.
    lock.pragma('journal_mode = MEMORY')
    lock.exec(
      'CREATE TABLE IF NOT EXISTS owner (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, since INTEGER NOT NULL)',
    )
    lock
      .prepare('INSERT OR REPLACE INTO owner (id, pid, since) VALUES (1, ?, ?)')
      .run(process.pid, Date.now())
    return lock
  } catch (err) {
    lock.close()
    throw err
  }
}
