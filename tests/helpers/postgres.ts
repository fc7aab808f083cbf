/**
 * PostgreSQL for tests: a real server (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
 * and a fresh schema per run, dropped in teardown. Outside CI the tests skip with a printed reason
 * when PostgreSQL is unreachable; in CI (`CI` set) they run and fail instead.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Null when PostgreSQL answers, otherwise why the tests are skipped. Throws in CI. */
export async function postgresSkipReason(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3_000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return null
  } catch (err) {
    const reason = `PostgreSQL at ${TEST_DATABASE_URL} is unreachable (${(err as Error).message}); set TEST_DATABASE_URL`
    if (process.env.CI) throw new Error(`PostgreSQL tests must run in CI but ${reason}`)
    console.warn(`skipping PostgreSQL tests: ${reason}`)
    return reason
  } finally {
    await client.end().catch(() => {})
  }
}

/** A schema name no other run uses. */
export function freshSchemaName(): string {
  return `tandem_test_${randomBytes(6).toString('hex')}`
}

/** Drops `schema` and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`)
  } finally {
    await client.end()
  }
}
