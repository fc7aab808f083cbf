/**
 * DocStore on PostgreSQL (`pg`), shared by several relay instances.
 *
 * Schema (created at startup, idempotently, under one advisory lock so instances starting together
 * do not race): `snapshots(room PRIMARY KEY, data, updated_at)`, `updates(room, id, data)` keyed
 * (room, id) where `id` is a database identity (never a per-process counter, so appends from
 * several instances cannot collide), `policies(room PRIMARY KEY, data jsonb)` (the mode),
 * `revocations(room, jti, until)` keyed (room, jti) (a revocation writes one row),
 * `quarantine(room, id, data, reason, at)`, and the change log (postgres-change-log.ts):
 * `changes(room, id, at, author, delta, data)` keyed (room, id) and `room_changes(room PRIMARY KEY,
 * latest, latest_at)`, each room's counter. `append` writes a whole batch in one statement (the relay's group commit): it bumps the
 * counter row of each room of the batch (an upsert, in room order so two batches never deadlock),
 * which holds that row's lock until the statement commits, so an instance appending to the same
 * room waits and then numbers after it: ids follow commit order and are never handed out twice. The
 * log rows and the numbered change rows are inserted by the same statement. `load` reads snapshot
 * and log in one statement, so one snapshot of the database, never a snapshot from after a
 * compaction beside a log from before it; `changesSince` reads the counter and the changes in one.
 *
 * Compaction, with several instances writing one room. Compactions of one room are serialised by a
 * transaction-level advisory lock; inside it the store reads the snapshot and the log rows visible
 * now, writes the new snapshot and deletes exactly the rows it read, by id (never `id <= max`:
 * identities are handed out at insert but rows become visible at commit, so a lower id can commit
 * later and must survive). Without `snapshot` the new snapshot is `mergeStoredRoom` of what was read.
 * With `snapshot` (the caller's document, which holds every update this process appended but maybe
 * not another instance's), each part read (the old snapshot, each row) is checked with
 * `Y.snapshotContainsUpdate` against `snapshot`'s state vector and delete set; any part not
 * contained is merged in with `Y.mergeUpdates` (`withMissingParts`), so nothing another instance
 * stored is dropped. Both merges run in a worker thread (`LogMerger`), never on the event loop.
 * The compaction's transaction also prunes the room's changes (`changeRetention`); it never touches
 * the counter, nor changes newer than those it may prune.
 */
import pg from 'pg'
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
import { LogMerger } from './log-merger.ts'
import { PostgresAuthorLog } from './postgres-author-log.ts'
import { PostgresChangeLog } from './postgres-change-log.ts'
import { PostgresVersionLog } from './postgres-version-log.ts'
import { StoreOpenError } from './store-open-error.ts'

export interface PostgresStoreOptions {
  /** Schema holding Tandem's tables (created if missing); default `public`. */
  schema?: string
  /** Largest number of connections in the pool. */
  maxConnections?: number
  /** How many changes each room keeps when it compacts (default DEFAULT_CHANGE_RETENTION). */
  changeRetention?: ChangeRetention
}

/** A batch of log rows as read inside a compaction. */
interface RoomRows {
  snapshot: Uint8Array | null
  ids: string[]
  updates: Uint8Array[]
}

const DEFAULT_MAX_CONNECTIONS = 10

export class PostgresStore implements DocStore {
  readonly ready: Promise<void>
  readonly schema: string
  private readonly pool: pg.Pool
  /** The thread compactions merge in. */
  readonly merger = new LogMerger()
  /** `schema.table` names, quoted. */
  private readonly t: {
    snapshots: string
    updates: string
    policies: string
    quarantine: string
    revocations: string
  }
  /** The change log's tables and statements. */
  private readonly changeLog: PostgresChangeLog
  readonly versions: PostgresVersionLog
  readonly authors: PostgresAuthorLog
  private readonly changeRetention: ChangeRetention
  private closed: Promise<void> | null = null

  /**
   * Connects to `connectionString` (postgres://user@host:port/db) and creates the schema;
   * `ready` rejects with a StoreOpenError when the database cannot be reached or set up.
   */
  constructor(
    readonly connectionString: string,
    options: PostgresStoreOptions = {},
  ) {
    this.schema = options.schema ?? 'public'
    const schema = pg.escapeIdentifier(this.schema)
    this.t = {
      snapshots: `${schema}.snapshots`,
      updates: `${schema}.updates`,
      policies: `${schema}.policies`,
      quarantine: `${schema}.quarantine`,
      revocations: `${schema}.revocations`,
    }
    this.changeLog = new PostgresChangeLog(this.schema)
    this.changeRetention = options.changeRetention ?? DEFAULT_CHANGE_RETENTION
    this.pool = new pg.Pool({
      connectionString,
      max: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      connectionTimeoutMillis: 10_000,
    })
    // An idle connection the server dropped: the pool discards it, and the next query that fails
    // rejects to its caller (the commit queue retries). Without a listener it would crash the process.
    this.pool.on('error', () => {})
    this.versions = new PostgresVersionLog(this.pool, this.schema)
    this.authors = new PostgresAuthorLog(this.pool, this.schema)
    this.ready = this.migrate().catch((err) => {
      throw postgresOpenError(connectionString, err)
    })
    // Callers that never await `ready` (they will see the error at their first query) must not
    // get an unhandled rejection.
    this.ready.catch(() => {})
  }

  private async migrate(): Promise<void> {
    const schema = pg.escapeIdentifier(this.schema)
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tandem-migrate:${this.schema}`])
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
      await client.query(`
        CREATE TABLE IF NOT EXISTS ${this.t.snapshots} (
          room text PRIMARY KEY,
          data bytea NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS ${this.t.updates} (
          room text NOT NULL,
          id bigint GENERATED ALWAYS AS IDENTITY,
          data bytea NOT NULL,
          PRIMARY KEY (room, id)
        );
        CREATE TABLE IF NOT EXISTS ${this.t.policies} (
          room text PRIMARY KEY,
          data jsonb NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS ${this.t.quarantine} (
          room text NOT NULL,
          id bigint GENERATED ALWAYS AS IDENTITY,
          data bytea NOT NULL,
          reason text NOT NULL,
          at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (room, id)
        );
        CREATE TABLE IF NOT EXISTS ${this.t.revocations} (
          room text NOT NULL,
          jti text NOT NULL,
          until bigint NOT NULL,
          PRIMARY KEY (room, jti)
        );
      `)
      await this.changeLog.migrate(client)
      await this.versions.migrate(client)
      await this.authors.migrate(client)
      // Revocation lists an older version kept inside the policy's JSON become rows.
      await client.query(`
        INSERT INTO ${this.t.revocations} (room, jti, until)
          SELECT p.room, r->>'jti', (r->>'until')::bigint
          FROM ${this.t.policies} p, jsonb_array_elements(p.data->'revoked') r
          WHERE jsonb_typeof(p.data->'revoked') = 'array'
        ON CONFLICT DO NOTHING;
        UPDATE ${this.t.policies} SET data = data - 'revoked' WHERE data ? 'revoked';
      `)
    })
  }

  async load(room: string): Promise<StoredRoom> {
    await this.ready
    const { snapshot, updates } = await this.readRoom(this.pool, room)
    let logBytes = 0
    for (const update of updates) logBytes += update.byteLength
    return { snapshot, updates, logBytes }
  }

  /** One statement: see the module comment. */
  async append(entries: readonly LogEntry[]): Promise<number[]> {
    if (entries.length === 0) return []
    await this.ready
    const now = Date.now()
    const { rows } = await this.pool.query<{ id: string }>({
      // Prepared once per connection: parsing and planning it on every append took ~200 µs.
      name: 'tandem-append',
      text: `WITH entry AS (
         SELECT e.*, row_number() OVER (PARTITION BY e.room ORDER BY e.n) AS nth,
                count(*) OVER (PARTITION BY e.room) AS total
         FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::text[], $5::text[])
           WITH ORDINALITY AS e(room, data, at, author, delta, n)
       ),
       counter AS (
         INSERT INTO ${this.changeLog.counters} AS c (room, latest, latest_at)
         SELECT room, count(*), (array_agg(at ORDER BY n DESC))[1] FROM entry GROUP BY room ORDER BY room
         ON CONFLICT (room) DO UPDATE SET latest = c.latest + excluded.latest, latest_at = excluded.latest_at
         RETURNING room, latest
       ),
       numbered AS (
         SELECT entry.*, counter.latest - entry.total + entry.nth AS id FROM entry JOIN counter USING (room)
       ),
       logged AS (
         INSERT INTO ${this.t.updates} (room, data) SELECT room, data FROM entry ORDER BY n
       ),
       changed AS (
         INSERT INTO ${this.changeLog.changes} (room, id, at, author, delta, data)
         SELECT room, id, at, author, delta, data FROM numbered
       )
       SELECT id FROM numbered ORDER BY n`,
      values: [
        entries.map((entry) => entry.room),
        entries.map((entry) => toBuffer(entry.update)),
        entries.map((entry) => entry.change?.at ?? now),
        entries.map((entry) => entry.change?.author ?? null),
        entries.map((entry) => entry.change?.delta ?? null),
      ],
    })
    return rows.map((row) => Number(row.id))
  }

  async changesSince(
    room: string,
    after: number,
    limit: number,
    options?: ChangesReadOptions,
  ): Promise<ChangesRead> {
    await this.ready
    return this.changeLog.read(this.pool, room, after, limit, options)
  }

  async setChangeDelta(room: string, id: number, delta: string): Promise<void> {
    await this.ready
    await this.changeLog.setDelta(this.pool, room, id, delta)
  }

  async pruneChanges(room: string, retention: ChangeRetention, now: number): Promise<number> {
    await this.ready
    return this.changeLog.prune(this.pool, room, retention, now)
  }

  /** See the module comment: deletes only the rows it read, and keeps what `snapshot` lacks. */
  async compact(room: string, snapshot?: Uint8Array): Promise<number> {
    await this.ready
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tandem:${this.schema}:${room}`])
      const stored = await this.readRoom(client, room)
      const size =
        snapshot || stored.ids.length > 0
          ? await this.replaceLog(client, room, stored, snapshot)
          : (stored.snapshot?.byteLength ?? 0)
      await this.changeLog.prune(client, room, this.changeRetention, Date.now())
      return size
    })
  }

  /** Writes the merged snapshot and deletes the rows `stored` read; resolves with the snapshot's size. */
  private async replaceLog(
    client: pg.PoolClient,
    room: string,
    stored: RoomRows,
    snapshot: Uint8Array | undefined,
  ): Promise<number> {
    const merged = snapshot
      ? await this.merger.withMissingParts(
          snapshot,
          stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates,
        )
      : await this.merger.merge(stored)
    await client.query(
      `INSERT INTO ${this.t.snapshots} (room, data, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (room) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
      [room, toBuffer(merged)],
    )
    if (stored.ids.length > 0) {
      await client.query(`DELETE FROM ${this.t.updates} WHERE room = $1 AND id = ANY($2::bigint[])`, [
        room,
        stored.ids,
      ])
    }
    return merged.byteLength
  }

  async setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void> {
    if (entries.length === 0) return
    await this.ready
    await this.pool.query(
      `INSERT INTO ${this.t.quarantine} (room, data, reason)
       SELECT $1, * FROM unnest($2::bytea[], $3::text[])`,
      [room, entries.map((entry) => toBuffer(entry.data)), entries.map((entry) => entry.reason)],
    )
  }

  async setAsideEntries(room: string): Promise<SetAsideEntry[]> {
    await this.ready
    const { rows } = await this.pool.query<{ data: Buffer; reason: string }>(
      `SELECT data, reason FROM ${this.t.quarantine} WHERE room = $1 ORDER BY id`,
      [room],
    )
    return rows.map(({ data, reason }) => ({ data, reason }))
  }

  /** Reads `room`'s mode and live revocations in one statement, or null when it has neither. */
  async loadPolicy(room: string, now: number): Promise<StoredPolicy | null> {
    await this.ready
    const { rows } = await this.pool.query<{ mode: string | null; revoked: Revocation[] | null }>(
      `SELECT (SELECT data->>'mode' FROM ${this.t.policies} WHERE room = $1) AS mode,
              (SELECT json_agg(json_build_object('jti', jti, 'until', until))
                 FROM ${this.t.revocations} WHERE room = $1 AND until > $2) AS revoked`,
      [room, now],
    )
    const { mode, revoked } = rows[0]
    if (mode === null && revoked === null) return null
    return { mode: mode === 'view' ? 'view' : 'edit', revoked: revoked ?? [] }
  }

  async saveMode(room: string, mode: StoredPolicy['mode']): Promise<void> {
    await this.ready
    await this.pool.query(
      `INSERT INTO ${this.t.policies} AS p (room, data, updated_at) VALUES ($1, jsonb_build_object('mode', $2::text), now())
       ON CONFLICT (room) DO UPDATE SET data = p.data || excluded.data, updated_at = excluded.updated_at`,
      [room, mode],
    )
  }

  /** One transaction under a per-room advisory lock, so the cap holds with several instances. */
  async addRevocation(
    room: string,
    { jti, until }: Revocation,
    max: number,
    now: number,
  ): Promise<RevocationResult> {
    await this.ready
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tandem-revoke:${room}`])
      await client.query(`DELETE FROM ${this.t.revocations} WHERE room = $1 AND until <= $2`, [room, now])
      const { rows } = await client.query<{ live: string; known: boolean }>(
        `SELECT count(*) AS live, bool_or(jti = $2) AS known FROM ${this.t.revocations} WHERE room = $1`,
        [room, jti],
      )
      if (!rows[0].known && Number(rows[0].live) >= max) return 'full'
      await client.query(
        `INSERT INTO ${this.t.revocations} AS r (room, jti, until) VALUES ($1, $2, $3)
         ON CONFLICT (room, jti) DO UPDATE SET until = greatest(r.until, excluded.until)`,
        [room, jti, until],
      )
      return 'added'
    })
  }

  async pruneRevocations(now: number): Promise<number> {
    await this.ready
    const { rowCount } = await this.pool.query(`DELETE FROM ${this.t.revocations} WHERE until <= $1`, [now])
    return rowCount ?? 0
  }

  /** Resolves when PostgreSQL answers `SELECT 1`. */
  async ping(): Promise<void> {
    await this.ready
    await this.pool.query('SELECT 1')
  }

  /** Ends the pool (after its queries finish); later calls resolve at once. */
  close(): Promise<void> {
    this.closed ??= Promise.all([this.pool.end(), this.merger.close()]).then(() => {})
    return this.closed
  }

  /** The room's snapshot and log (with row ids, oldest first), read in one statement. */
  private async readRoom(db: pg.Pool | pg.PoolClient, room: string): Promise<RoomRows> {
    const { rows } = await db.query<{ id: string | null; data: Buffer }>(
      `SELECT NULL::bigint AS id, data FROM ${this.t.snapshots} WHERE room = $1
       UNION ALL
       SELECT id, data FROM ${this.t.updates} WHERE room = $1
       ORDER BY id NULLS FIRST`,
      [room],
    )
    const result: RoomRows = { snapshot: null, ids: [], updates: [] }
    for (const row of rows) {
      if (row.id === null) result.snapshot = row.data
      else {
        result.ids.push(row.id)
        result.updates.push(row.data)
      }
    }
    return result
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** `url` without its password, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'DATABASE_URL'
  }
}

/** Explains why the database at `url` could not be opened, as a StoreOpenError with advice. */
function postgresOpenError(url: string, cause: unknown): StoreOpenError {
  const where = redact(url)
  const code = String((cause as { code?: unknown } | null)?.code ?? '')
  const detail = cause instanceof Error ? cause.message : String(cause)
  const explain = (reason: string, advice: string) => new StoreOpenError(where, reason, advice, { cause })
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT')
    return explain(
      `PostgreSQL is not reachable (${code})`,
      'start PostgreSQL or correct the host and port in DATABASE_URL',
    )
  if (code === '28P01' || code === '28000')
    return explain('authentication failed', 'check the user and password in DATABASE_URL')
  if (code === '3D000')
    return explain('the database does not exist', 'create it (createdb) or fix DATABASE_URL')
  if (code === '42501')
    return explain('permission denied', 'grant the user CREATE on the database, or use another schema')
  return explain(code ? `${detail} (${code})` : detail, 'check DATABASE_URL and that PostgreSQL is running')
}
