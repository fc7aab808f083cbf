/**
 * The PostgreSQL store's versions (History.VersionStore, on its pool): `versions` (one row per version, see
 * version-rows.ts, keyed (room, id)) and `version_ids` (each room's last id). Every write takes the
 * room's `version_ids` row lock first, so adds and removals of one room are ordered across
 * instances; inside it the checks that keep chains sound run on what is committed
 * (version-checks.ts checkAddBase, checkRemoval): two instances never make two automatic versions of
 * one change, nor an op on a version the other removed.
 */
import pg from 'pg'
import type * as History from './history-store.ts'
import { checkAddBase, checkRemoval, encodeContent } from './version-checks.ts'
import {
  chainEndingAt,
  factsOf,
  type StoredVersionRow,
  VERSION_COLUMNS,
  type VersionRow,
} from './version-rows.ts'

type Db = pg.Pool | pg.PoolClient

export class PostgresVersionLog implements History.VersionStore {
  /** `schema.versions` and `schema.version_ids`, quoted. */
  private readonly versions: string
  private readonly ids: string

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    const quoted = pg.escapeIdentifier(schema)
    this.versions = `${quoted}.versions`
    this.ids = `${quoted}.version_ids`
  }

  /** Creates both tables if missing (part of the store's migration, inside its lock; the schema exists). */
  async migrate(db: Db = this.pool): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS ${this.versions} (
        room text NOT NULL,
        id bigint NOT NULL,
        at bigint NOT NULL,
        change_id bigint NOT NULL,
        kind text NOT NULL,
        name text,
        length bigint NOT NULL,
        authors jsonb NOT NULL,
        by text,
        restored_from bigint,
        checkpoint boolean NOT NULL,
        content text NOT NULL,
        PRIMARY KEY (room, id)
      );
      CREATE TABLE IF NOT EXISTS ${this.ids} (
        room text PRIMARY KEY,
        last bigint NOT NULL
      );
    `)
  }

  async addVersion(
    room: string,
    version: History.NewVersion,
    content: History.VersionContent,
  ): Promise<History.VersionInfo | null> {
    return this.transaction(room, async (client) => {
      const { rows } = await client.query<{ id: string; change_id: string }>(
        `SELECT id, change_id FROM ${this.versions} WHERE room = $1 ORDER BY id DESC LIMIT 1`,
        [room],
      )
      const latest = rows[0]
      if (version.kind === 'auto' && latest && Number(latest.change_id) >= version.changeId) return null
      checkAddBase(content, latest ? Number(latest.id) : null)
      const next = await client.query<{ last: string }>(
        `UPDATE ${this.ids} SET last = last + 1 WHERE room = $1 RETURNING last`,
        [room],
      )
      const id = Number(next.rows[0].last)
      const { checkpoint, data } = encodeContent(content)
      await client.query(
        `INSERT INTO ${this.versions} (room, id, at, change_id, kind, name, length, authors, by, restored_from, checkpoint, content)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          room,
          id,
          version.at,
          version.changeId,
          version.kind,
          version.name,
          version.length,
          JSON.stringify(version.authors),
          version.by,
          version.restoredFrom,
          checkpoint,
          data,
        ],
      )
      return { ...version, id }
    })
  }

  async listVersions(room: string): Promise<History.VersionInfo[]> {
    const { rows } = await this.pool.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM ${this.versions} WHERE room = $1 ORDER BY id`,
      [room],
    )
    return rows.map(factsOf)
  }

  /** One statement: the checkpoint and the rows after it come from one snapshot. */
  async versionChain(room: string, id: number): Promise<History.StoredVersion[]> {
    const { rows } = await this.pool.query<StoredVersionRow>(
      `SELECT ${VERSION_COLUMNS}, checkpoint, content FROM ${this.versions}
       WHERE room = $1 AND id <= $2 AND id >= (
         SELECT max(id) FROM ${this.versions} WHERE room = $1 AND id <= $2 AND checkpoint)
       ORDER BY id`,
      [room, id],
    )
    return chainEndingAt(rows, id)
  }

  async removeVersions(
    room: string,
    ids: readonly number[],
    rewritten: ReadonlyMap<number, History.VersionContent>,
  ): Promise<number> {
    return this.transaction(room, async (client) => {
      const { rows } = await client.query<{ id: string; checkpoint: boolean }>(
        `SELECT id, checkpoint FROM ${this.versions} WHERE room = $1 ORDER BY id`,
        [room],
      )
      const gone = checkRemoval(
        rows.map(({ id, checkpoint }) => ({ id: Number(id), checkpoint })),
        ids,
        rewritten,
      )
      await client.query(`DELETE FROM ${this.versions} WHERE room = $1 AND id = ANY($2::bigint[])`, [
        room,
        gone,
      ])
      for (const [id, content] of rewritten) {
        const { checkpoint, data } = encodeContent(content)
        await client.query(
          `UPDATE ${this.versions} SET checkpoint = $3, content = $4 WHERE room = $1 AND id = $2`,
          [room, id, checkpoint, data],
        )
      }
      return gone.length
    })
  }

  /** One transaction holding `room`'s `version_ids` row lock (the row made if missing). */
  private async transaction<T>(room: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let committed = false
    try {
      await client.query('BEGIN')
      await client.query(
        `INSERT INTO ${this.ids} AS v (room, last) VALUES ($1, 0)
         ON CONFLICT (room) DO UPDATE SET last = v.last`,
        [room],
      )
      const result = await work(client)
      await client.query('COMMIT')
      committed = true
      return result
    } finally {
      if (!committed) await client.query('ROLLBACK').catch(() => {})
      client.release()
    }
  }
}
