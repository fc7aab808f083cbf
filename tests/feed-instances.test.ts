/**
 * The change feed and the HTTP writes across two instances on one PostgreSQL and one Redis
 * (PROTOCOL.md, "The document over HTTP"): a feed on instance B shows the changes typed on A and on
 * B in id order with deltas that rebuild the text; a feed client that drops and reconnects with
 * `Last-Event-ID` to the OTHER instance (as through a balancer) resumes exactly, none twice, none
 * lost; a `POST …/text` on A reaches a stock client on B and B's feed.
 */
import { describe, expect, it } from 'vitest'
import { type EventStream, feedOpener, typeEdits } from './helpers/event-stream.ts'
import { sharedServices } from './helpers/instances.ts'
import { freshRedisPrefix } from './helpers/redis.ts'
import { cleanupAfterEach, connectClient, synced, type TestClient, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const { skip, startInstance } = await sharedServices(cleanups)
const openFeed = feedOpener(cleanups)

function client(url: string, room: string): TestClient {
  const c = connectClient(url, room)
  cleanups.push(() => c.destroy())
  return c
}

const textOf = (c: TestClient) => c.doc.getText('codemirror').toString()

/** Change ids of a stream's change events. */
const changeIds = (stream: EventStream) => stream.changes().map((change) => change.id)

async function twoInstances() {
  const prefix = freshRedisPrefix()
  const one = await startInstance({ redisPrefix: prefix })
  const two = await startInstance({ redisPrefix: prefix })
  return { one, two }
}

describe.skipIf(skip)('the change feed across two instances', () => {
  it('a feed on B shows both instances’ changes in id order; a drop resumed on A loses and repeats nothing', async () => {
    const { one, two } = await twoInstances()
    const room = 'feed-across'
    const onA = client(one.url, room)
    const onB = client(two.url, room)
    await Promise.all([synced(onA), synced(onB)])
    const steady = await openFeed(two.port, room)
    const dropped = await openFeed(two.port, room)
    for (const feed of [steady, dropped]) await feed.until((s) => s.named('reset').length === 1, 'the start')

    typeEdits(onA, 20, 1)
    typeEdits(onB, 20, 2)
    await waitFor(() => textOf(onA) === textOf(onB), 'the clients to converge')
    await dropped.until((s) => s.text() === textOf(onA), 'the dropped feed to follow the typing')
    const lastId = dropped.lastEventId
    const textAtDrop = dropped.text()
    dropped.close()

    typeEdits(onA, 20, 3)
    typeEdits(onB, 20, 4)
    // Reconnect to the other instance, as a balancer may send it.
    const resumed = await openFeed(one.port, room, { 'Last-Event-ID': lastId })
    typeEdits(onA, 10, 5)
    await waitFor(() => textOf(onA) === textOf(onB), 'the clients to converge again')
    await steady.until((s) => s.text() === textOf(onA), 'the steady feed to follow every change')
    await resumed.until((s) => s.text(textAtDrop) === textOf(onA), 'the resumed feed to catch up')

    const ids = changeIds(steady)
    expect(ids).toEqual(ids.map((_, i) => i + 1))
    // One reset each, where they started; none for the resume.
    expect(steady.named('reset')).toHaveLength(1)
    expect(resumed.named('reset')).toHaveLength(0)
    expect(changeIds(resumed)).toEqual(ids.filter((id) => id > Number(lastId)))
  })

  it('a POST …/text on A reaches a stock client on B and B’s feed', async () => {
    const { one, two } = await twoInstances()
    const room = 'post-across'
    const onB = client(two.url, room)
    await synced(onB)
    onB.doc.getText('codemirror').insert(0, 'hello world')
    const feed = await openFeed(two.port, room)
    await feed.until((s) => s.text() === 'hello world', 'the feed on B to show the typing')

    const response = await fetch(`http://127.0.0.1:${one.port}/api/rooms/${room}/text`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ index: 5, insert: ',', base: 1 }),
    })
    expect(response.status).toBe(200)
    const { changeId } = (await response.json()) as { changeId: number }
    expect(changeId).toBe(2)
    await waitFor(() => textOf(onB) === 'hello, world', 'the POSTed edit to reach the client on B')
    await feed.until((s) => s.text() === 'hello, world', 'the feed on B to show the edit')
    expect(changeIds(feed).at(-1)).toBe(2)
  })
})
