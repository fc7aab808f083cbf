/**
 * The PostgreSQL store's change log, beside its update log (postgres-store.ts numbers and inserts
 * changes in its append statement): `changes(room, id, at, author, delta, data)` keyed (room, id) and
 * `room_changes(room PRIMARY KEY, latest, latest_at)`, each room's counter, whose row lock orders
 * appends to one room across instances. Reads, delta updates and pruning, each one statement, on
 * the pool or inside the caller's transaction. `data` is the change's update (the append inserts the
 * same bytes into `updates`); a table from before it gets the column, null in its old rows.
 */
import pg from 'pg'
import type { ChangeRetention, ChangesRead, ChangesReadOptions, StoredChange } from './doc-store.ts'

type Db = pg.Pool | pg.PoolClient

export class PostgresChangeLog {
  /** `schema.changes` and `schema.room_changes`, quoted. */
  readonly changes: string
  readonly counters: string

  constructor(private readonly schema: string) {
    const quoted = pg.escapeIdentifier(schema)
    this.changes = `${quoted}.changes`
    this.counters = `${quoted}.room_changes`
  }

  /** Creates both tables if missing (part of the store's migration). */
  async migrate(db: Db): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS ${this.changes} (
        room text NOT NULL,
        id bigint NOT NULL,
        at bigint NOT NULL,
        author text,
        delta text,
        data bytea,
        PRIMARY KEY (room, id)
      );
      CREATE TABLE IF NOT EXISTS ${this.counters} (
        room text PRIMARY KEY,
        latest bigint NOT NULL,
        latest_at bigint NOT NULL
      );
    `)
    // Checked first: ALTER TABLE locks the table out even when the column exists.
    const { rowCount } = await db.query(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'changes' AND column_name = 'data'`,
      [this.schema],
    )
    if (rowCount === 0) await db.query(`ALTER TABLE ${this.changes} ADD COLUMN data bytea`)
  }

  /**
   * The counter, the oldest id and the page in one statement: one snapshot of the database. Updates
   * travel in the page's JSON as base64 (PostgreSQL breaks its lines; Buffer.from skips the breaks).
   */
  async read(
    db: Db,
    room: string,
    after: number,
    limit: number,
    options?: ChangesReadOptions,
  ): Promise<ChangesRead> {
    const updates = options?.updates ? `, encode(data, 'base64') AS "update"` : ''
    const { rows } = await db.query<{
      latest: string | null
      latest_at: string | null
      oldest: string | null
      changes: Array<Omit<StoredChange, 'update'> & { update?: string | null }>
    }>(
      `SELECT c.latest, c.latest_at,
         (SELECT min(id) FROM ${this.changes} WHERE room = $1) AS oldest,
         (SELECT coalesce(json_agg(p ORDER BY p.id), '[]'::json) FROM (
            SELECT id, at, author, delta${updates} FROM ${this.changes}
            WHERE room = $1 AND id > $2 ORDER BY id LIMIT $3) p) AS changes
       FROM (VALUES (1)) AS one LEFT JOIN ${this.counters} c ON c.room = $1`,
      [room, after, Math.max(0, limit)],
    )
    const row = rows[0]
    const changes: StoredChange[] = options?.updates
      ? row.changes.map((change) => ({
          ...change,
          update: change.update == null ? null : new Uint8Array(Buffer.from(change.update, 'base64')),
        }))
      : (row.changes as StoredChange[])
    return {
      changes,
      oldest: row.oldest === null ? null : Number(row.oldest),
      latest: Number(row.latest ?? 0),
      latestAt: row.latest_at === null ? null : Number(row.latest_at),
    }
  }

  async setDelta(db: Db, room: string, id: number, delta: string): Promise<void> {
    await db.query(`UPDATE ${this.changes} SET delta = $3 WHERE room = $1 AND id = $2 AND delta IS NULL`, [
      room,
      id,
      delta,
    ])
  }

  /**
   * Deletes `room`'s changes up to the last id not among the latest `count`, stopping before the
   * first one committed after `now - ms` (so what is kept stays contiguous); resolves with how many.
   * Appends meanwhile only add newer ids; the counter is never touched.
   */
  async prune(db: Db, room: string, { count, ms }: ChangeRetention, now: number): Promise<number> {
    const { rowCount } = await db.query(
      `DELETE FROM ${this.changes} WHERE room = $1 AND id <= (
         SELECT coalesce(
           (SELECT min(id) - 1 FROM ${this.changes} WHERE room = $1 AND id <= b.up_to AND at > $3),
           b.up_to)
         FROM (SELECT latest - $2 AS up_to FROM ${this.counters} WHERE room = $1) b)`,
      [room, Math.max(Math.floor(count), 1), Math.floor(now - ms)],
    )
    return rowCount ?? 0
  }
}
