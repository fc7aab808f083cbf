/**
 * Large updates across instances (issue #19, class 6): a 10 MB update (past Redis's 8 MB soft
 * output-buffer limit for subscribers; about the largest one update admission lets through by
 * default) written on one instance reaches a client of the other without any frame on Redis
 * passing the bus's frame bound (a frame past Redis's pub/sub output-buffer limits makes Redis drop
 * every subscriber), nothing is lost, and both instances stay ready. And a subscriber connection
 * Redis closes is logged and counted.
 */
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { sharedServices } from './helpers/instances.ts'
import { parsePrometheusText, sampleValue } from './helpers/prometheus-text.ts'
import { freshRedisPrefix, TEST_REDIS_URL } from './helpers/redis.ts'
import { cleanupAfterEach, connectClient, synced, type TestServer, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const { skip, startInstance: start } = await sharedServices(cleanups)

/** The largest frame the bus may publish (bytes), plus its header. */
const FRAME_BOUND = 1024 * 1024 + 1024

const startInstance = (prefix: string): Promise<TestServer> => start({ redisPrefix: prefix })

async function ready(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/ready`)).status
}

async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
  return sampleValue(families, name, labels) ?? 0
}

function clientOn(server: TestServer, room: string) {
  const c = connectClient(server.url, room)
  cleanups.push(() => c.destroy())
  return c
}

describe.skipIf(skip)('large updates across instances', () => {
  it('a 10 MB update reaches the other instance with no frame on Redis over 1 MiB; both stay ready', async () => {
    const prefix = freshRedisPrefix()
    const room = 'large'
    const observer = new Redis(TEST_REDIS_URL)
    cleanups.push(() => observer.disconnect())
    let largestFrame = 0
    observer.on('messageBuffer', (_channel: Buffer, frame: Buffer) => {
      largestFrame = Math.max(largestFrame, frame.byteLength)
    })
    await observer.subscribe(`${prefix}room:${room}`)
    const [one, two] = [await startInstance(prefix), await startInstance(prefix)]
    const writer = clientOn(one, room)
    const reader = clientOn(two, room)
    await Promise.all([synced(writer), synced(reader)])
    writer.text.insert(0, 'small before;')
    await waitFor(() => reader.text.toString() === 'small before;', 'a small edit first')

    const big = 'x'.repeat(10 * 1024 * 1024)
    writer.text.insert(0, big)
    writer.text.insert(0, 'small after;')
    await waitFor(
      () => reader.text.length === big.length + 'small before;small after;'.length,
      'the large edit on the other instance',
      60_000,
    )
    expect(reader.text.toString()).toBe(writer.text.toString())
    expect(largestFrame).toBeLessThanOrEqual(FRAME_BOUND)
    for (const server of [one, two]) {
      expect(await ready(server.port)).toBe(200)
      expect(await metric(server.port, 'tandem_redis_failures_total', { operation: 'connection' })).toBe(0)
      expect(await metric(server.port, 'tandem_redis_up')).toBe(1)
    }
    // Edits keep flowing both ways afterwards.
    reader.text.insert(0, 'reply;')
    await waitFor(() => writer.text.toString().startsWith('reply;'), 'an edit back')
  }, 120_000)

  it('a subscriber connection Redis closes is counted as a connection failure, and the instance recovers', async () => {
    const prefix = freshRedisPrefix()
    const [one, two] = [await startInstance(prefix), await startInstance(prefix)]
    const instanceId = two.server.bus!.instanceId
    const a = clientOn(one, 'after-drop')
    const b = clientOn(two, 'after-drop')
    await Promise.all([synced(a), synced(b)])
    const admin = new Redis(TEST_REDIS_URL)
    cleanups.push(() => admin.disconnect())
    const clients = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
      .split('\n')
      .filter((line) => line.includes(`name=tandem-${instanceId} `))
    expect(clients).toHaveLength(1)
    const id = /\bid=(\d+)/.exec(clients[0])![1]
    await admin.call('CLIENT', 'KILL', 'ID', id)
    await waitFor(
      async () => (await metric(two.port, 'tandem_redis_failures_total', { operation: 'connection' })) === 1,
      'the dropped subscriber to be counted',
    )
    await waitFor(async () => (await ready(two.port)) === 200, 'the subscriber back')
    a.text.insert(0, 'still crossing')
    await waitFor(() => b.text.toString() === 'still crossing', 'an edit across after the drop')
  }, 60_000)
})
