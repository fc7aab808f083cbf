/**
 * The SQLite store's versions (VersionStore, on its connection): `versions` (one row per version,
 * see version-rows.ts; keyed (room, id), with an index of the checkpoints so a chain's start is one
 * lookup) and `version_ids` (each room's last id). Each write is one transaction on the caller's
 * thread; the checks that keep chains sound are version-checks.ts checkAddBase and checkRemoval.
 */
import type Database from 'better-sqlite3'
import type * as History from './history-store.ts'
import { checkAddBase, checkRemoval, encodeContent } from './version-checks.ts'
import * as rows from './version-rows.ts'

export class SqliteVersionLog implements History.VersionStore {
  readonly addVersion: History.VersionStore['addVersion']
  readonly removeVersions: History.VersionStore['removeVersions']
  private readonly selectFacts: Database.Statement<[string], rows.VersionRow>
  private readonly selectCheckpoint: Database.Statement<[string, number], number | null>
  private readonly selectRange: Database.Statement<[string, number, number], rows.StoredVersionRow>

  /** Creates the tables if the database has none yet. */
  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS versions (
        room TEXT NOT NULL,
        id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        change_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT,
        length INTEGER NOT NULL,
        authors TEXT NOT NULL,
        by TEXT,
        restored_from INTEGER,
        checkpoint INTEGER NOT NULL,
        content TEXT NOT NULL,
        PRIMARY KEY (room, id)
      );
      CREATE INDEX IF NOT EXISTS versions_checkpoints ON versions (room, id) WHERE checkpoint = 1;
      CREATE TABLE IF NOT EXISTS version_ids (
        room TEXT PRIMARY KEY,
        last INTEGER NOT NULL
      );
    `)
    const selectLatest = db.prepare<[string], { id: number; change_id: number }>(
      'SELECT id, change_id FROM versions WHERE room = ? ORDER BY id DESC LIMIT 1',
    )
    const nextId = db
      .prepare<[string], number>(
        `INSERT INTO version_ids (room, last) VALUES (?, 1)
         ON CONFLICT (room) DO UPDATE SET last = last + 1 RETURNING last`,
      )
      .pluck()
    const insert = db.prepare(
      `INSERT INTO versions (room, id, at, change_id, kind, name, length, authors, by, restored_from, checkpoint, content)
       VALUES (@room, @id, @at, @changeId, @kind, @name, @length, @authors, @by, @restoredFrom, @checkpoint, @content)`,
    )
    const add = db.transaction(
      (room: string, version: History.NewVersion, content: History.VersionContent) => {
        const latest = selectLatest.get(room)
        if (version.kind === 'auto' && latest && latest.change_id >= version.changeId) return null
        checkAddBase(content, latest?.id ?? null)
        const id = nextId.get(room)!
        const { checkpoint, data } = encodeContent(content)
        insert.run({
          ...version,
          room,
          id,
          authors: JSON.stringify(version.authors),
          checkpoint: checkpoint ? 1 : 0,
          content: data,
        })
        return { ...version, id }
      },
    )
    const selectShape = db.prepare<[string], { id: number; checkpoint: number }>(
      'SELECT id, checkpoint FROM versions WHERE room = ? ORDER BY id',
    )
    const deleteOne = db.prepare<[string, number]>('DELETE FROM versions WHERE room = ? AND id = ?')
    const rewrite = db.prepare<[number, string, string, number]>(
      'UPDATE versions SET checkpoint = ?, content = ? WHERE room = ? AND id = ?',
    )
    const remove = db.transaction(
      (room: string, ids: readonly number[], rewritten: ReadonlyMap<number, History.VersionContent>) => {
        const shape = selectShape
          .all(room)
          .map(({ id, checkpoint }) => ({ id, checkpoint: checkpoint === 1 }))
        const gone = checkRemoval(shape, ids, rewritten)
        for (const id of gone) deleteOne.run(room, id)
        for (const [id, content] of rewritten) {
          const { checkpoint, data } = encodeContent(content)
          rewrite.run(checkpoint ? 1 : 0, data, room, id)
        }
        return gone.length
      },
    )
    this.addVersion = async (room, version, content) => add(room, version, content)
    this.removeVersions = async (room, ids, rewritten) => remove(room, ids, rewritten)
    this.selectFacts = db.prepare(`SELECT ${rows.VERSION_COLUMNS} FROM versions WHERE room = ? ORDER BY id`)
    this.selectCheckpoint = db
      .prepare<[string, number], number | null>(
        'SELECT max(id) FROM versions WHERE room = ? AND id <= ? AND checkpoint = 1',
      )
      .pluck()
    this.selectRange = db.prepare(
      `SELECT ${rows.VERSION_COLUMNS}, checkpoint, content FROM versions WHERE room = ? AND id >= ? AND id <= ? ORDER BY id`,
    )
  }

  async listVersions(room: string): Promise<History.VersionInfo[]> {
    return this.selectFacts.all(room).map(rows.factsOf)
  }

  async versionChain(room: string, id: number): Promise<History.StoredVersion[]> {
    const start = this.selectCheckpoint.get(room, id)
    if (start == null) return []
    return rows.chainEndingAt(this.selectRange.all(room, start, id), id)
  }
}
