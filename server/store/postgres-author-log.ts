/**
 * The PostgreSQL store's author log (the AuthorStore half of PostgresStore, on its pool):
 *
 *   author_clients(room, client bigint, key)          keyed (room, client)
 *   author_identities(room, key, name, color)         keyed (room, key)
 *
 * A binding is first-writer-wins across instances: `INSERT … ON CONFLICT DO NOTHING RETURNING`,
 * and when that inserted nothing, the key read back in a second statement. Two statements, not
 * one: under READ COMMITTED a statement's snapshot is taken when it starts, so a SELECT in the
 * INSERT's own statement would not see the row a concurrent instance committed while the INSERT
 * waited on it; the next statement does. The identity's latest name (and colour, when known) is
 * upserted beside it.
 */
import pg from 'pg'
import type { AuthorIdentity, AuthorStore } from './history-store.ts'

type Db = pg.Pool | pg.PoolClient

export class PostgresAuthorLog implements AuthorStore {
  /** `schema.author_clients` and `schema.author_identities`, quoted. */
  private readonly clients: string
  private readonly identities: string

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    const quoted = pg.escapeIdentifier(schema)
    this.clients = `${quoted}.author_clients`
    this.identities = `${quoted}.author_identities`
  }

  /** Creates both tables if missing (part of the store's migration, on its connection). */
  async migrate(db: Db = this.pool): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS ${this.clients} (
        room text NOT NULL,
        client bigint NOT NULL,
        key text NOT NULL,
        PRIMARY KEY (room, client)
      );
      CREATE TABLE IF NOT EXISTS ${this.identities} (
        room text NOT NULL,
        key text NOT NULL,
        name text NOT NULL,
        color text,
        PRIMARY KEY (room, key)
      );
    `)
  }

  async bindClient(room: string, clientId: number, identity: AuthorIdentity): Promise<string> {
    const inserted = await this.pool.query<{ key: string }>(
      `WITH identity AS (
         INSERT INTO ${this.identities} AS i (room, key, name, color) VALUES ($1, $3, $4, $5)
         ON CONFLICT (room, key) DO UPDATE SET name = excluded.name, color = coalesce(excluded.color, i.color)
       )
       INSERT INTO ${this.clients} (room, client, key) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING key`,
      [room, clientId, identity.key, identity.name, identity.color],
    )
    if (inserted.rows.length > 0) return inserted.rows[0].key
    const bound = await this.pool.query<{ key: string }>(
      `SELECT key FROM ${this.clients} WHERE room = $1 AND client = $2`,
      [room, clientId],
    )
    return bound.rows[0].key
  }

  async roomAuthors(room: string) {
    const { rows } = await this.pool.query<{
      clients: Array<[number, string]> | null
      identities: AuthorIdentity[] | null
    }>(
      `SELECT
         (SELECT json_agg(json_build_array(client, key)) FROM ${this.clients} WHERE room = $1) AS clients,
         (SELECT json_agg(json_build_object('key', key, 'name', name, 'color', color))
            FROM ${this.identities} WHERE room = $1) AS identities`,
      [room],
    )
    const clients = new Map<number, string>()
    for (const [client, key] of rows[0].clients ?? []) clients.set(Number(client), key)
    const identities = new Map<string, AuthorIdentity>()
    for (const identity of rows[0].identities ?? []) identities.set(identity.key, identity)
    return { clients, identities }
  }
}
