/**
 * Every DocStore backend, for suites that run one contract against all of them: memory, SQLite plain
 * and with its background thread, PostgreSQL (a fresh schema per store, dropped after the file), and
 * the tests' forwarding wrapper. Call `storeBackends()` once at a test file's top level: it registers
 * the teardown that closes each store opened and drops the schemas.
 */
import { join } from 'node:path'
import { afterAll } from 'vitest'
import {
  type ChangeRetention,
  type DocStore,
  MemoryStore,
  PostgresStore,
  SqliteStore,
} from '../../server/index.ts'
import { ForwardingStore } from './forwarding-store.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './postgres.ts'
import { cleanupAfterEach, makeTempDir } from './relay.ts'

/** What a store may be opened with. */
export interface BackendOptions {
  changeRetention?: ChangeRetention
}

export interface StoreBackend {
  name: string
  /** Why the backend's tests are skipped (PostgreSQL unreachable outside CI), or null. */
  skip: string | null
  /** Opens a store for one test; closed in teardown. */
  open: (options?: BackendOptions) => Promise<DocStore>
  /**
   * A store on the data `store` (from `open`) keeps: the same file reopened after closing `store`,
   * or a second instance on the same database. Null for a backend that keeps nothing.
   */
  reopen: ((store: DocStore) => Promise<DocStore>) | null
}

export async function storeBackends() {
  const cleanups = cleanupAfterEach()
  const pgSkip = await postgresSkipReason()
  const schemas: string[] = []
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema)
  })
  /** Where each store opened keeps its data, for `reopen`. */
  const homes = new WeakMap<DocStore, () => Promise<DocStore>>()

  async function opened<S extends DocStore>(store: S, again: (() => Promise<DocStore>) | null): Promise<S> {
    cleanups.push(() => store.close())
    await store.ready
    if (again) homes.set(store, again)
    return store
  }

  function sqlite(background: boolean) {
    return (options: BackendOptions = {}): Promise<DocStore> => {
      const { dir, cleanup } = makeTempDir()
      cleanups.push(cleanup)
      const open = (): Promise<DocStore> =>
        opened(
          new SqliteStore(join(dir, 'contract.db'), {
            background: background ? { checkpointIntervalMs: 50 } : null,
            ...options,
          }),
          open,
        )
      return open()
    }
  }

  /** A PostgresStore on `schema` (created on first use). */
  function openPostgres(schema: string, options: BackendOptions = {}): Promise<PostgresStore> {
    return opened(new PostgresStore(TEST_DATABASE_URL, { schema, maxConnections: 4, ...options }), () =>
      openPostgres(schema, options),
    )
  }

  /** A schema of this run's, dropped after the file. */
  function freshSchema(): string {
    const schema = freshSchemaName()
    schemas.push(schema)
    return schema
  }

  async function reopen(store: DocStore): Promise<DocStore> {
    const again = homes.get(store)
    if (!again) throw new Error('this store was not opened by storeBackends')
    if (!(store instanceof PostgresStore)) await store.close()
    return again()
  }

  const backends: StoreBackend[] = [
    {
      name: 'MemoryStore',
      open: (options) => opened(new MemoryStore(options), null),
      reopen: null,
      skip: null,
    },
    { name: 'SqliteStore', open: sqlite(false), reopen, skip: null },
    { name: 'SqliteStore (background)', open: sqlite(true), reopen, skip: null },
    { name: 'PostgresStore', open: (options) => openPostgres(freshSchema(), options), reopen, skip: pgSkip },
    // The tests' wrappers (fault injection, gated loads) keep the contract of what they wrap.
    {
      name: 'ForwardingStore (SQLite)',
      open: async (options) => new ForwardingStore(await sqlite(false)(options)),
      reopen: null,
      skip: null,
    },
  ]
  return { backends, cleanups, pgSkip, freshSchema, openPostgres }
}
