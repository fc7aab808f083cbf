/**
 * The services some systems run on, outside the processes the harness starts: PostgreSQL
 * (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test; a role
 * that may create databases) and Redis (BENCH_REDIS_URL, else TEST_REDIS_URL, else
 * redis://127.0.0.1:6379). Each run
 * gets its own: a fresh database `tandem_bench_<hex>` and a fresh Redis prefix, both removed when
 * the run ends. A database rather than a schema: PostgreSQL's process titles name a backend's
 * database, so the backends serving a run can be told from any others (./service-cpu.ts), and a
 * Tandem built from before `--database-schema` (--tandem-ref) is isolated as well.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'

export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const BENCH_REDIS_URL =
  process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export type Service = 'postgres' | 'redis'

/** What one run of a system was given; `drop` removes it. */
export interface RunServices {
  /** Connection string of this run's own database (null: the system uses no PostgreSQL). */
  databaseUrl: string | null
  /** Its name, as PostgreSQL's process titles show it (./service-cpu.ts). */
  database: string | null
  redisUrl: string | null
  /** Key and channel prefix of this run (null: no Redis). */
  redisPrefix: string | null
  drop(): Promise<void>
}

/** Null when every service in `needed` answers, otherwise why not. */
export async function unreachable(needed: readonly Service[]): Promise<string | null> {
  if (needed.includes('postgres')) {
    try {
      await withAdmin((client) => client.query('SELECT 1'))
    } catch (err) {
      return `PostgreSQL at ${BENCH_DATABASE_URL} is unreachable (${(err as Error).message}); set BENCH_DATABASE_URL`
    }
  }
  if (needed.includes('redis')) {
    const redis = new Redis(BENCH_REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 3_000,
    })
    redis.on('error', () => {})
    try {
      await redis.connect()
      await redis.ping()
    } catch (err) {
      return `Redis at ${BENCH_REDIS_URL} is unreachable (${(err as Error).message}); set BENCH_REDIS_URL`
    } finally {
      redis.disconnect()
    }
  }
  return null
}

/** Creates this run's database and/or Redis prefix. */
export async function openServices(needed: readonly Service[]): Promise<RunServices> {
  const id = randomBytes(6).toString('hex')
  const database = needed.includes('postgres') ? `tandem_bench_${id}` : null
  if (database) await withAdmin((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`))
  const redisPrefix = needed.includes('redis') ? `tandem-bench-${id}:` : null
  let databaseUrl: string | null = null
  if (database) {
    const url = new URL(BENCH_DATABASE_URL)
    url.pathname = `/${database}`
    databaseUrl = url.toString()
  }
  return {
    databaseUrl,
    database,
    redisUrl: redisPrefix ? BENCH_REDIS_URL : null,
    redisPrefix,
    drop: async () => {
      if (database)
        await withAdmin((client) =>
          // FORCE: a server killed mid-run may leave a connection the database server has not noticed yet.
          client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`),
        )
      if (redisPrefix) await deleteKeys(redisPrefix)
    },
  }
}

async function withAdmin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL, connectionTimeoutMillis: 3_000 })
  await client.connect()
  try {
    return await body(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Deletes every key under `prefix` (fan-out uses channels, which leave none, but a build may store some). */
async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(BENCH_REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 3_000 })
  redis.on('error', () => {})
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}
