/**
 * The SQLite store's change log (the ChangeStore half of SqliteStore, on its connection):
 * `changes(room, id, at, author, delta, data)`, WITHOUT ROWID on (room, id), so a room's changes are one
 * run of the B-tree. A change is numbered inside the append's transaction as the room's `max(id)`
 * plus one: the key's last entry, a lookup as cheap as a per-process cache and cheaper than keeping
 * a counter row per room (which would dirty one more page per commit). Nothing else ever writes
 * the table: compactions leave it alone but for `prune`. `data` is the change's update (the same
 * bytes the append puts in `updates`, in the same INSERT as the change: no statement more per
 * change); a table from before it gets the column, null in its old rows.
 */
import type Database from 'better-sqlite3'
import type {
  ChangeInfo,
  ChangeRetention,
  ChangesRead,
  ChangesReadOptions,
  StoredChange,
} from './doc-store.ts'

/** A page row with its update (better-sqlite3 reads a BLOB as a Buffer, NULL as null). */
type StoredChangeRow = StoredChange & { update: Uint8Array | null }

export class SqliteChangeLog {
  private readonly insert: Database.Statement<
    [string, number, number, string | null, string | null, Uint8Array]
  >
  /** The room's latest change id (null: none). */
  private readonly selectLatest: Database.Statement<[string], number | null>
  private readonly selectBounds: Database.Statement<
    [{ room: string }],
    { oldest: number; latest: number; latestAt: number }
  >
  private readonly selectPage: Database.Statement<[string, number, number], StoredChange>
  private readonly selectPageWithUpdates: Database.Statement<[string, number, number], StoredChangeRow>
  private readonly updateDelta: Database.Statement<[string, string, number]>
  /** The first change up to an id committed after a time (null: none). */
  private readonly selectFirstYoung: Database.Statement<[string, number, number], number | null>
  private readonly deleteUpTo: Database.Statement<[string, number]>
  /** See `prune`. */
  readonly prune: (room: string, retention: ChangeRetention, now: number) => number

  /** Creates the table if the database has none yet (a database from before the change log). */
  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS changes (
        room TEXT NOT NULL,
        id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        author TEXT,
        delta TEXT,
        data BLOB,
        PRIMARY KEY (room, id)
      ) WITHOUT ROWID;
    `)
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(changes)').all()
    if (!columns.some((column) => column.name === 'data')) db.exec('ALTER TABLE changes ADD COLUMN data BLOB')
    this.insert = db.prepare(
      'INSERT INTO changes (room, id, at, author, delta, data) VALUES (?, ?, ?, ?, ?, ?)',
    )
    this.selectLatest = db
      .prepare<[string], number | null>('SELECT max(id) FROM changes WHERE room = ?')
      .pluck()
    this.selectBounds = db.prepare(
      'SELECT (SELECT min(id) FROM changes WHERE room = @room) AS oldest, id AS latest, at AS latestAt ' +
        'FROM changes WHERE room = @room ORDER BY id DESC LIMIT 1',
    )
    this.selectPage = db.prepare(
      'SELECT id, at, author, delta FROM changes WHERE room = ? AND id > ? ORDER BY id LIMIT ?',
    )
    this.selectPageWithUpdates = db.prepare(
      'SELECT id, at, author, delta, data AS "update" FROM changes WHERE room = ? AND id > ? ORDER BY id LIMIT ?',
    )
    this.updateDelta = db.prepare('UPDATE changes SET delta = ? WHERE room = ? AND id = ? AND delta IS NULL')
    this.selectFirstYoung = db
      .prepare<[string, number, number], number | null>(
        'SELECT id FROM changes WHERE room = ? AND id <= ? AND at > ? ORDER BY id LIMIT 1',
      )
      .pluck()
    this.deleteUpTo = db.prepare('DELETE FROM changes WHERE room = ? AND id <= ?')
    // A transaction of its own, or a savepoint inside the caller's (a compaction's).
    this.prune = db.transaction((room: string, { count, ms }: ChangeRetention, now: number) => {
      const upTo = (this.selectLatest.get(room) ?? 0) - Math.max(count, 1)
      if (upTo < 1) return 0
      const young = this.selectFirstYoung.get(room, upTo, now - ms)
      return this.deleteUpTo.run(room, young == null ? upTo : young - 1).changes
    })
  }

  /**
   * Stores `room`'s next change, made by `update` (the rows this transaction added count: they are
   * visible to it), inside the caller's transaction; returns its id. `now` stands in for the time
   * of a change not described.
   */
  add(room: string, update: Uint8Array, change: ChangeInfo | undefined, now: number): number {
    const id = (this.selectLatest.get(room) ?? 0) + 1
    this.insert.run(room, id, change?.at ?? now, change?.author ?? null, change?.delta ?? null, update)
    return id
  }

  /** Bounds and page read without yielding: no append can fall between them. */
  read(room: string, after: number, limit: number, options?: ChangesReadOptions): ChangesRead {
    const bounds = this.selectBounds.get({ room })
    if (!bounds) return { changes: [], oldest: null, latest: 0, latestAt: null }
    const page = options?.updates ? this.selectPageWithUpdates : this.selectPage
    const changes = limit > 0 && after < bounds.latest ? page.all(room, after, limit) : []
    return { changes, ...bounds }
  }

  setDelta(room: string, id: number, delta: string): void {
    this.updateDelta.run(delta, room, id)
  }
}
