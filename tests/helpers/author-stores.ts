/**
 * A DocStore that keeps authorship: the store itself once it implements AuthorStore, else (until
 * the stores carry their author logs) the store with its backend's author log attached on the same
 * connection or pool.
 */
import type { AuthorStore } from '../../server/history/history-types.ts'
import { type DocStore, MemoryStore, PostgresStore, SqliteStore } from '../../server/index.ts'
import { MemoryAuthorLog } from '../../server/store/memory-author-log.ts'
import { PostgresAuthorLog } from '../../server/store/postgres-author-log.ts'
import { SqliteAuthorLog } from '../../server/store/sqlite-author-log.ts'

export async function withAuthorLog<S extends DocStore>(store: S): Promise<S & AuthorStore> {
  await store.ready
  const existing = store as Partial<AuthorStore>
  if (typeof existing.bindClient === 'function') return store as S & AuthorStore
  let log: AuthorStore
  if (store instanceof SqliteStore) log = new SqliteAuthorLog(store.db)
  else if (store instanceof MemoryStore) log = new MemoryAuthorLog()
  else if (store instanceof PostgresStore) {
    const postgres = new PostgresAuthorLog((store as unknown as { pool: never }).pool, store.schema)
    await postgres.migrate()
    log = postgres
  } else throw new TypeError('no author log for this store')
  return Object.assign(store, {
    bindClient: log.bindClient.bind(log),
    roomAuthors: log.roomAuthors.bind(log),
  })
}
