/**
 * The relay on PostgreSQL: the real server with a PostgresStore (a fresh schema per run), stock
 * y-websocket clients, and a restart on the same schema; `databaseUrl` selects the store.
 */
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createServer, PostgresStore, resolveConfig } from '../server/index.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { cleanupAfterEach, connectClient, converged, startServer, synced, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const pgSkip = await postgresSkipReason()
const schema = freshSchemaName()
afterAll(async () => {
  if (!pgSkip) await dropSchema(schema)
})

const UNREACHABLE = 'postgres://postgres@127.0.0.1:1/test'

describe('storage selection', () => {
  it('stores in PostgreSQL when databaseUrl is set, and refuses contradictions', () => {
    expect(resolveConfig({ databaseUrl: UNREACHABLE }).storage).toBe('postgres')
    expect(() => resolveConfig({ storage: 'postgres' })).toThrow(/needs "databaseUrl"/)
    expect(() => resolveConfig({ storage: 'memory', databaseUrl: UNREACHABLE })).toThrow(/contradict/)
    expect(() => resolveConfig({ databaseUrl: UNREACHABLE, db: 'x.db' })).toThrow(/contradict/)
  })

  it('does not listen when PostgreSQL is unreachable, and says why', async () => {
    const server = createServer({
      port: 0,
      host: '127.0.0.1',
      databaseUrl: UNREACHABLE,
      staticDir: null,
      logger: pino({ level: 'silent' }),
    })
    cleanups.push(() => server.close())
    expect(server.store).toBeInstanceOf(PostgresStore)
    await expect(server.listen()).rejects.toMatchObject({
      name: 'StoreOpenError',
      message: expect.stringContaining('127.0.0.1:1/test'),
    })
  })
})

describe.skipIf(pgSkip)('relay on PostgreSQL', () => {
  it('keeps edits across a restart on the same schema', async () => {
    const open = () =>
      startServer({ store: new PostgresStore(TEST_DATABASE_URL, { schema }), compactAfterUpdates: 5 })
    const first = await open()
    const a = connectClient(first.url, 'pg-room')
    const b = connectClient(first.url, 'pg-room')
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    )
    await Promise.all([synced(a), synced(b)])
    for (let i = 0; i < 12; i++) (i % 2 ? a : b).text.insert(0, `${i};`)
    await waitFor(() => a.text.toString().split(';').length === 13, 'every edit to reach a')
    const expected = await converged([a, b])
    expect(expected.split(';').filter(Boolean)).toHaveLength(12)
    a.destroy()
    b.destroy()
    await first.close()

    const second = await open()
    cleanups.push(() => second.close())
    const c = connectClient(second.url, 'pg-room')
    cleanups.push(() => c.destroy())
    await synced(c)
    await waitFor(() => c.text.toString() === expected, 'the edits after the restart')
  })
})
