/**
 * DocStore on an embedded SQLite database (better-sqlite3), in WAL mode.
 *
 * Schema: `snapshots(room PRIMARY KEY, data)`, `policies(room PRIMARY KEY, data)` (JSON: mode and
 * revoked token ids) and `updates(room, seq, data)`, a WITHOUT ROWID table
 * clustered on (room, seq): one B-tree, so appending an update dirties one page rather than a table
 * page and an index page. `seq` is a process-wide counter (the file has one owner, see below), so a
 * room's log reads back in append order. `append` writes a whole batch in one transaction (the
 * relay's group commit).
 * With `synchronous=NORMAL` a committed transaction is in the WAL file in the OS page cache: it
 * survives a crash of this process, not a power loss. `FULL` fsyncs the WAL on every commit.
 *
 * The database is opened with `locking_mode=EXCLUSIVE`: one server process owns the file (a second
 * server on the same file fails at once with "database is locked" instead of splitting a room's
 * state between two processes), and commits skip the per-transaction file-lock and shared-memory
 * syscalls, about a third of a small commit's CPU. Read the file from elsewhere only while the
 * server is stopped, or through `db` in this process.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { SqliteSynchronous } from '../config.ts'
import type { DocStore, LogEntry, SetAsideEntry, StoredPolicy, StoredRoom } from './doc-store.ts'
import { mergeStoredRoom } from './merge-log.ts'
import { storeOpenError } from './store-open-error.ts'

export class SqliteStore implements DocStore {
  readonly db: Database.Database
  /** Last `seq` written. */
  private seq: number
  private readonly insertUpdate: Database.Statement<[string, number, Uint8Array]>
  private readonly selectSnapshot: Database.Statement<[string], { data: Buffer }>
  private readonly selectUpdates: Database.Statement<[string], { data: Buffer }>
  private readonly upsertSnapshot: Database.Statement<[string, Uint8Array, number]>
  private readonly deleteUpdates: Database.Statement<[string]>
  private readonly appendAll: (entries: readonly LogEntry[]) => void
  private readonly replaceSnapshot: (room: string, snapshot: Uint8Array) => void

  /**
   * Opens (creating if needed) the database file at `path`; `:memory:` works too. Throws a
   * StoreOpenError naming the file and what to do when it cannot be opened, locked or set up.
   */
  constructor(path: string, synchronous: SqliteSynchronous = 'NORMAL') {
    let db: Database.Database | undefined
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      this.db = db = new Database(path, { timeout: 0 })
      this.db.pragma('locking_mode = EXCLUSIVE')
      this.db.pragma('journal_mode = WAL')
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
      `)
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
        for (const entry of entries) this.insertUpdate.run(entry.room, ++this.seq, entry.update)
      })
      this.replaceSnapshot = this.db.transaction((room: string, snapshot: Uint8Array) => {
        this.upsertSnapshot.run(room, snapshot, Date.now())
        this.deleteUpdates.run(room)
      })
    } catch (err) {
      // Some failures (not a database, locked) only show at the first pragma or query, after the open.
      if (db?.open) db.close()
      throw storeOpenError(path, err)
    }
  }

  async load(room: string): Promise<StoredRoom> {
    const snapshot = this.selectSnapshot.get(room)
    const updates: Uint8Array[] = []
    let logBytes = 0
    for (const row of this.selectUpdates.iterate(room)) {
      updates.push(row.data)
      logBytes += row.data.byteLength
    }
    return { snapshot: snapshot ? snapshot.data : null, updates, logBytes }
  }

  async append(entries: readonly LogEntry[]): Promise<void> {
    this.appendAll(entries)
  }

  async compact(room: string, snapshot?: Uint8Array): Promise<number> {
    const merged = snapshot ?? mergeStoredRoom(await this.load(room))
    this.replaceSnapshot(room, merged)
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

  /** Reads `room`'s row of the `policies` table (JSON), or null. */
  async loadPolicy(room: string): Promise<StoredPolicy | null> {
    const row = this.db.prepare('SELECT data FROM policies WHERE room = ?').get(room) as
      | { data: string }
      | undefined
    return row ? (JSON.parse(row.data) as StoredPolicy) : null
  }

  async savePolicy(room: string, policy: StoredPolicy): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO policies (room, data, updated_at) VALUES (?, ?, ?) ' +
          'ON CONFLICT (room) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at',
      )
      .run(room, JSON.stringify(policy), Date.now())
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }
}
