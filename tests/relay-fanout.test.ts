/**
 * Several instances sharing one PostgreSQL and one Redis (issue #14): real server processes and
 * in-process servers, stock y-websocket clients, and a TCP proxy (tests/helpers/tcp-proxy.ts)
 * standing in for the load balancer in front of the instances, or for a network that cuts Redis
 * or PostgreSQL off. Every test types seeded random edits (tokens inserted between tokens), and
 * ends by checking that every client holds every token any client typed, exactly once.
 */
import * as prng from 'lib0/prng'
import { afterAll, describe, expect, it } from 'vitest'
import { PostgresStore, type StoredRoom } from '../server/index.ts'
import { SPOOFER_OWN_ID, spoofAwareness } from './helpers/hostile.ts'
import { dropSchema, freshSchemaName, postgresSkipReason, TEST_DATABASE_URL } from './helpers/postgres.ts'
import { parsePrometheusText, sampleValue } from './helpers/prometheus-text.ts'
import { RawPeer } from './helpers/raw-peer.ts'
import { freshRedisPrefix, redisSkipReason, TEST_REDIS_URL } from './helpers/redis.ts'
import {
  cleanupAfterEach,
  connectClient,
  spawnServer,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'
import { proxyFor, TcpProxy } from './helpers/tcp-proxy.ts'

const cleanups = cleanupAfterEach()
const skip = (await postgresSkipReason()) ?? (await redisSkipReason())
const schema = freshSchemaName()
afterAll(async () => {
  if (!skip) await dropSchema(schema)
})

/** How long recovery (reconnects, retries, resyncs) may take before a test fails. */
const RECOVERY_MS = 30_000

/** A client that types tokens (`<name><n>;`) at random token boundaries, and remembers them. */
class Typist {
  readonly typed: string[] = []
  constructor(
    readonly name: string,
    readonly client: TestClient,
  ) {}

  type(gen: prng.PRNG): void {
    const text = this.client.text.toString()
    const boundaries = [0]
    for (let i = 0; i < text.length; i++) if (text[i] === ';') boundaries.push(i + 1)
    const token = `${this.name}${this.typed.length}`
    this.client.text.insert(boundaries[prng.uint32(gen, 0, boundaries.length - 1)], `${token};`)
    this.typed.push(token)
  }
}

/** Types `count` tokens, each by a random typist, yielding to the event loop now and then. */
async function typeRandomly(gen: prng.PRNG, typists: Typist[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    typists[prng.uint32(gen, 0, typists.length - 1)].type(gen)
    if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Waits until every client holds exactly the tokens typed by every typist; returns the text. */
async function expectEveryEdit(clients: TestClient[], typists: Typist[]): Promise<string> {
  const expected = typists.flatMap((typist) => typist.typed).sort()
  const tokens = (client: TestClient) => client.text.toString().split(';').filter(Boolean).sort()
  try {
    await waitFor(
      () => clients.every((client) => tokens(client).join() === expected.join()),
      'every client to hold every edit',
      RECOVERY_MS,
    )
  } catch (err) {
    for (const client of clients) {
      const missing = expected.filter((token) => !tokens(client).includes(token))
      console.error(`client ${client.doc.clientID}: ${tokens(client).length} tokens, missing ${missing}`)
    }
    throw err
  }
  return clients[0].text.toString()
}

/** The instance's /metrics, parsed. */
async function metrics(port: number) {
  return parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
}

async function ready(port: number): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/ready`)
  const body = (await res.json()) as { reasons?: string[] }
  return { status: res.status, reasons: body.reasons ?? [] }
}

function clientsOn(url: string, room: string, count: number): TestClient[] {
  const clients = Array.from({ length: count }, () => connectClient(url, room))
  for (const client of clients) cleanups.push(() => client.destroy())
  return clients
}

/** An instance process on the shared PostgreSQL schema and Redis prefix. */
async function spawnInstance(prefix: string) {
  const instance = await spawnServer(null, [
    '--database-url',
    TEST_DATABASE_URL,
    '--database-schema',
    schema,
    '--redis-url',
    TEST_REDIS_URL,
    '--redis-prefix',
    prefix,
    '--compact-after',
    '25',
  ])
  cleanups.push(() => instance.stop())
  return instance
}

/** An in-process instance; `databaseUrl` and `redisUrl` default to the real services. */
async function startInstance(options: { prefix: string; databaseUrl?: string; redisUrl?: string }) {
  const server: TestServer = await startServer({
    databaseUrl: options.databaseUrl ?? TEST_DATABASE_URL,
    databaseSchema: schema,
    redisUrl: options.redisUrl ?? TEST_REDIS_URL,
    redisPrefix: options.prefix,
    compactAfterUpdates: 25,
    storeRetryMinMs: 50,
    storeRetryMaxMs: 500,
  })
  cleanups.push(() => server.close())
  return server
}

/** Everything reached PostgreSQL: a fresh instance loads `room` with the same tokens as `text`. */
async function expectStored(prefix: string, room: string, text: string): Promise<void> {
  const fresh = await startInstance({ prefix })
  const [late] = clientsOn(fresh.url, room, 1)
  await synced(late)
  await waitFor(() => late.text.toString().length === text.length, 'a fresh instance to load the room')
  expect(late.text.toString().split(';').sort()).toEqual(text.split(';').sort())
}

describe.skipIf(skip)('two instances on one PostgreSQL and one Redis', () => {
  it('an update committed on another instance while a room loads is not lost (subscribe, then load)', async () => {
    const prefix = freshRedisPrefix()
    const one = await startInstance({ prefix })
    const [a, witness] = clientsOn(one.url, 'gap', 2)
    await Promise.all([synced(a), synced(witness)])
    a.text.insert(0, 'before;')
    await waitFor(() => witness.text.toString() === 'before;', 'the first edit')

    // Instance two reads the room from PostgreSQL; before that read reaches the room, instance
    // one commits and publishes another edit: the gap a late subscription would fall into.
    class EditDuringLoad extends PostgresStore {
      override async load(room: string): Promise<StoredRoom> {
        const stored = await super.load(room)
        if (room === 'gap' && !a.text.toString().includes('during;')) {
          a.text.insert(0, 'during;')
          await waitFor(() => witness.text.toString().includes('during;'), 'the edit during the load')
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        return stored
      }
    }
    const two = await startServer({
      store: new EditDuringLoad(TEST_DATABASE_URL, { schema }),
      redisUrl: TEST_REDIS_URL,
      redisPrefix: prefix,
    })
    cleanups.push(() => two.close())
    await waitFor(async () => (await ready(two.port)).status === 200, 'instance two ready')
    const [b] = clientsOn(two.url, 'gap', 1)
    await synced(b)
    await waitFor(() => b.text.toString() === 'during;before;', 'the edit made during the load')
  })

  seededTest(
    'two server processes: clients on different instances converge and see each other’s presence',
    async (gen) => {
      const prefix = freshRedisPrefix()
      const [one, two] = await Promise.all([spawnInstance(prefix), spawnInstance(prefix)])
      const [a, c] = clientsOn(`ws://127.0.0.1:${one.port}`, 'crossing', 2)
      const [b, d] = clientsOn(`ws://127.0.0.1:${two.port}`, 'crossing', 2)
      const clients = [a, b, c, d]
      await Promise.all(clients.map(synced))
      const typists = clients.map((client, i) => new Typist('abcd'[i], client))
      await typeRandomly(gen, typists, 80)
      await expectEveryEdit(clients, typists)
      for (const port of [one.port, two.port]) expect(await ready(port)).toEqual({ status: 200, reasons: [] })
      const received = sampleValue(await metrics(two.port), 'tandem_fanout_messages_total', {
        direction: 'in',
        kind: 'update',
      })
      expect(received).toBeGreaterThan(0)

      // Presence crosses both ways, and so does a departure the server notices (no goodbye sent).
      const names = (client: TestClient) =>
        [...client.provider.awareness.getStates().values()].map((state) => state.user?.name)
      a.provider.awareness.setLocalStateField('user', { name: 'Ada' })
      b.provider.awareness.setLocalStateField('user', { name: 'Bo' })
      await waitFor(() => names(b).includes('Ada') && names(d).includes('Ada'), 'Ada on the other instance')
      await waitFor(() => names(a).includes('Bo') && names(c).includes('Bo'), 'Bo on the other instance')
      a.provider.shouldConnect = false
      ;(a.provider.ws as unknown as { terminate(): void }).terminate()
      await waitFor(
        () => !names(b).includes('Ada') && !names(d).includes('Ada'),
        'Ada gone on the other instance',
      )
    },
    { timeout: 60_000 },
  )

  for (const [signal, how] of [
    ['SIGKILL', 'kill -9 of one instance'],
    ['SIGTERM', 'graceful shutdown of one instance'],
  ] as const) {
    seededTest(
      `${how} while clients type on both: its clients reconnect to the other and nothing is lost`,
      async (gen) => {
        const prefix = freshRedisPrefix()
        const [one, two] = await Promise.all([spawnInstance(prefix), spawnInstance(prefix)])
        const balancer = new TcpProxy([
          { host: '127.0.0.1', port: one.port },
          { host: '127.0.0.1', port: two.port },
        ])
        await balancer.listen()
        cleanups.push(() => balancer.close())
        const clients = clientsOn(`ws://127.0.0.1:${balancer.port}`, `survivor-${signal}`, 4)
        await Promise.all(clients.map(synced))
        for (const port of [one.port, two.port]) {
          expect(sampleValue(await metrics(port), 'tandem_connections')).toBe(2)
        }
        const typists = clients.map((client, i) => new Typist('pqrs'[i], client))
        // What each client saw arrive from others: all of it must survive.
        const seen = clients.map(() => new Set<string>())
        for (const [i, client] of clients.entries()) {
          client.text.observe((event) => {
            if (event.transaction.local) return
            for (const token of client.text.toString().split(';')) if (token) seen[i].add(token)
          })
        }
        await typeRandomly(gen, typists, 60)
        one.process.kill(signal)
        await typeRandomly(gen, typists, 60)
        const text = await expectEveryEdit(clients, typists)
        for (const tokens of seen) for (const token of tokens) expect(text).toContain(`${token};`)
        expect(sampleValue(await metrics(two.port), 'tandem_connections')).toBe(4)

        await expectStored(prefix, `survivor-${signal}`, text)
      },
      { timeout: 90_000 },
    )
  }

  it('a connection on one instance cannot change the presence of a client on another', async () => {
    const prefix = freshRedisPrefix()
    const [one, two] = await Promise.all([startInstance({ prefix }), startInstance({ prefix })])
    const [alice, watcher] = clientsOn(one.url, 'spoof', 2)
    const [observer] = clientsOn(two.url, 'spoof', 1)
    await Promise.all([alice, watcher, observer].map(synced))
    alice.provider.awareness.setLocalStateField('user', { name: 'alice' })
    const aliceId = alice.doc.clientID
    const nameOn = (client: TestClient, id: number) =>
      client.provider.awareness.getStates().get(id)?.user?.name
    await waitFor(() => nameOn(observer, aliceId) === 'alice', 'alice on the other instance')
    const clock = alice.provider.awareness.meta.get(aliceId)!.clock
    const mallory = new RawPeer(two.url, 'spoof')
    cleanups.push(() => mallory.ws.terminate())
    await mallory.opened
    // Frames are handled and published in order: both sides see the spoofer's own state last.
    await spoofAwareness(mallory, aliceId, clock)
    await waitFor(
      () => nameOn(observer, SPOOFER_OWN_ID) === 'bob' && nameOn(watcher, SPOOFER_OWN_ID) === 'bob',
      "the spoofer's own state on both instances",
    )
    expect(nameOn(observer, aliceId)).toBe('alice')
    expect(nameOn(watcher, aliceId)).toBe('alice')
    alice.provider.awareness.setLocalStateField('user', { name: 'alice again' })
    await waitFor(() => nameOn(observer, aliceId) === 'alice again', "alice's own later update")
  })

  seededTest(
    'Redis cut off mid-session, then back: both instances report it, serve their own clients, and every client ends with every edit',
    async (gen) => {
      const prefix = freshRedisPrefix()
      const { proxy, via } = await proxyFor(TEST_REDIS_URL, 6379, cleanups)
      const [one, two] = await Promise.all([
        startInstance({ prefix, redisUrl: via }),
        startInstance({ prefix, redisUrl: via }),
      ])
      await waitFor(async () => (await ready(one.port)).status === 200, 'instance one ready')
      await waitFor(async () => (await ready(two.port)).status === 200, 'instance two ready')
      const [a, b] = clientsOn(one.url, 'outage', 2)
      const [c, d] = clientsOn(two.url, 'outage', 2)
      const clients = [a, b, c, d]
      await Promise.all(clients.map(synced))
      const typists = clients.map((client, i) => new Typist('wxyz'[i], client))
      await typeRandomly(gen, typists, 30)
      await expectEveryEdit(clients, typists)

      proxy.cut()
      for (const port of [one.port, two.port]) {
        await waitFor(
          async () => (await ready(port)).reasons.some((reason) => reason.startsWith('redis:')),
          'readiness to report Redis',
        )
      }
      await typeRandomly(gen, typists, 40)
      // Each instance still serves its own clients.
      const own = (x: Typist, y: Typist) =>
        x.typed.every((token) => y.client.text.toString().includes(`${token};`))
      await waitFor(
        () => own(typists[0], typists[1]) && own(typists[3], typists[2]),
        'clients of one instance to see each other',
      )
      proxy.restore()
      // A frame no instance wrote (garbage on the room's channel) is dropped; nothing else changes.
      const { Redis } = await import('ioredis')
      const intruder = new Redis(TEST_REDIS_URL)
      await intruder.publish(`${prefix}room:outage`, Buffer.from([1, 200, 200, 200, 7]))
      intruder.disconnect()
      await expectEveryEdit(clients, typists)
      for (const server of [one, two]) {
        await waitFor(async () => (await ready(server.port)).status === 200, 'readiness back')
        expect(sampleValue(await metrics(server.port), 'tandem_fanout_resyncs_total')).toBeGreaterThan(0)
      }
    },
    { timeout: 90_000 },
  )

  seededTest(
    'PostgreSQL failing, then slow: nothing is lost, rooms stay in memory, writes retry, readiness reports it',
    async (gen) => {
      const prefix = freshRedisPrefix()
      const { proxy, via } = await proxyFor(TEST_DATABASE_URL, 5432, cleanups)
      const [one, two] = await Promise.all([
        startInstance({ prefix, databaseUrl: via }),
        startInstance({ prefix, databaseUrl: via }),
      ])
      const [a, b] = clientsOn(one.url, 'store-outage', 2)
      const [c, d] = clientsOn(two.url, 'store-outage', 2)
      const clients = [a, b, c, d]
      await Promise.all(clients.map(synced))
      const typists = clients.map((client, i) => new Typist('klmn'[i], client))
      await typeRandomly(gen, typists, 30)
      await expectEveryEdit(clients, typists)

      proxy.cut()
      await typeRandomly(gen, typists, 40)
      for (const port of [one.port, two.port]) {
        await waitFor(
          async () => (await ready(port)).reasons.some((reason) => reason.startsWith('store:')),
          'readiness to report the store',
        )
      }
      expect(one.server.rooms.get('store-outage')).toBeDefined()
      proxy.restore()
      await expectEveryEdit(clients, typists)
      for (const port of [one.port, two.port]) {
        await waitFor(async () => (await ready(port)).status === 200, 'readiness back')
        expect(sampleValue(await metrics(port), 'tandem_store_failures_total')).toBeGreaterThan(0)
      }

      proxy.delayMs = 100
      await typeRandomly(gen, typists, 30)
      const text = await expectEveryEdit(clients, typists)
      proxy.delayMs = 0

      await expectStored(prefix, 'store-outage', text)
    },
    { timeout: 90_000 },
  )
})
