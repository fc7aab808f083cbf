/**
 * Redis for tests: a real server (TEST_REDIS_URL, default redis://127.0.0.1:6379) and a fresh
 * channel prefix per run. Outside CI the tests skip with a printed reason when Redis is
 * unreachable; in CI (`CI` set) they run and fail instead.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Null when Redis answers, otherwise why the tests are skipped. Throws in CI. */
export async function redisSkipReason(): Promise<string | null> {
  const client = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return null
  } catch (err) {
    const reason = `Redis at ${TEST_REDIS_URL} is unreachable (${(err as Error).message}); set TEST_REDIS_URL`
    if (process.env.CI) throw new Error(`Redis tests must run in CI but ${reason}`)
    console.warn(`skipping Redis tests: ${reason}`)
    return reason
  } finally {
    client.disconnect()
  }
}

/** A channel prefix no other run uses. */
export function freshRedisPrefix(): string {
  return `tandem-test-${randomBytes(6).toString('hex')}:`
}
