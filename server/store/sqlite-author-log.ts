/**
 * The SQLite store's author log (the AuthorStore half of SqliteStore, on its connection): which
 * identity each Yjs client id of a room writes for, and each identity's latest name and colour.
 *
 *   author_clients(room, client, key)          WITHOUT ROWID, keyed (room, client)
 *   author_identities(room, key, name, color)  WITHOUT ROWID, keyed (room, key)
 *
 * A binding is first-writer-wins: `INSERT OR IGNORE`, then the key read back, in one transaction
 * (the file has one owner, see sqlite-store.ts, so that is the whole story). Bindings are never
 * removed: a client id's items may stay in the text for ever.
 */
import type Database from 'better-sqlite3'
import type { AuthorIdentity, AuthorStore } from './history-store.ts'

export class SqliteAuthorLog implements AuthorStore {
  private readonly bind: (room: string, clientId: number, identity: AuthorIdentity) => string
  private readonly selectClients: Database.Statement<[string], { client: number; key: string }>
  private readonly selectIdentities: Database.Statement<
    [string],
    { key: string; name: string; color: string | null }
  >

  /** Creates the tables if the database has none yet (a database from before authorship). */
  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS author_clients (
        room TEXT NOT NULL,
        client INTEGER NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (room, client)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS author_identities (
        room TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        color TEXT,
        PRIMARY KEY (room, key)
      ) WITHOUT ROWID;
    `)
    const insertClient = db.prepare<[string, number, string]>(
      'INSERT OR IGNORE INTO author_clients (room, client, key) VALUES (?, ?, ?)',
    )
    const selectKey = db
      .prepare<[string, number], string>('SELECT key FROM author_clients WHERE room = ? AND client = ?')
      .pluck()
    // The latest name; a colour only when one is known (an HTTP caller has none).
    const upsertIdentity = db.prepare<[string, string, string, string | null]>(
      `INSERT INTO author_identities (room, key, name, color) VALUES (?, ?, ?, ?)
       ON CONFLICT (room, key) DO UPDATE SET name = excluded.name, color = coalesce(excluded.color, color)`,
    )
    this.bind = db.transaction((room: string, clientId: number, identity: AuthorIdentity) => {
      insertClient.run(room, clientId, identity.key)
      upsertIdentity.run(room, identity.key, identity.name, identity.color)
      return selectKey.get(room, clientId) as string
    })
    this.selectClients = db.prepare('SELECT client, key FROM author_clients WHERE room = ?')
    this.selectIdentities = db.prepare('SELECT key, name, color FROM author_identities WHERE room = ?')
  }

  async bindClient(room: string, clientId: number, identity: AuthorIdentity): Promise<string> {
    return this.bind(room, clientId, identity)
  }

  async roomAuthors(room: string) {
    const clients = new Map<number, string>()
    for (const { client, key } of this.selectClients.all(room)) clients.set(client, key)
    const identities = new Map<string, AuthorIdentity>()
    for (const identity of this.selectIdentities.all(room)) identities.set(identity.key, identity)
    return { clients, identities }
  }
}
