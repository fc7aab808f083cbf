/**
 * Several in-process instances on one PostgreSQL schema and one Redis, for multi-instance tests:
 * whether the services are there (the tests skip outside CI when not), a fresh schema dropped after
 * the file, and instances on it that are closed after each test and ready when returned.
 */
import { afterAll } from 'vitest'
import type { ServerConfig } from '../../server/index.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './postgres.ts'
import { redisSkipReason, TEST_REDIS_URL } from './redis.ts'
import { startServer, type TestServer, waitFor } from './relay.ts'

export interface SharedServices {
  /** Why the tests skip (null: they run). */
  skip: string | null
  /** The fresh PostgreSQL schema every instance shares. */
  schema: string
  /** An instance on the shared schema and Redis (`redisUrl` defaults to the real one), once `/ready`. */
  startInstance(options: Partial<ServerConfig> & { redisPrefix: string }): Promise<TestServer>
}

/** Call at the top of a test file; `cleanups` is the file's `cleanupAfterEach()` list. */
export async function sharedServices(cleanups: Array<() => unknown>): Promise<SharedServices> {
  const skip = (await postgresSkipReason()) ?? (await redisSkipReason())
  const schema = freshSchemaName()
  afterAll(async () => {
    if (!skip) await dropSchema(schema)
  })
  return {
    skip,
    schema,
    async startInstance(options) {
      const server = await startServer({
        databaseUrl: TEST_DATABASE_URL,
        databaseSchema: schema,
        redisUrl: TEST_REDIS_URL,
        ...options,
      })
      cleanups.push(() => server.close())
      const url = `http://127.0.0.1:${server.port}/ready`
      await waitFor(async () => (await fetch(url)).status === 200, 'the instance to be ready')
      return server
    },
  }
}
