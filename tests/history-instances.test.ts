/**
 * History across two instances on one PostgreSQL schema and Redis (CI runs it; skipped outside CI
 * without the services): both hold the room and make versions; a pause makes one automatic version,
 * not two; each instance lists the same versions and rebuilds the same texts; a name given on one
 * is seen on the other, and a change feed on the other hears it; the room unloading on both leaves
 * one last version.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { feedOpener } from './helpers/event-stream.ts'
import { sharedServices } from './helpers/instances.ts'
import { cleanupAfterEach, synced, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const t = tracked(cleanups)
const { skip, startInstance } = await sharedServices(cleanups)
const openFeed = feedOpener(cleanups)

describe.skipIf(skip)('history across two instances', () => {
  it('makes one version of a pause, and both list and rebuild the same', async () => {
    const prefix = `tandem-test-${randomBytes(4).toString('hex')}:`
    const options = { redisPrefix: prefix, historyQuietMs: 400, roomUnloadDelayMs: 100 }
    const one = await startInstance(options)
    const two = await startInstance(options)
    const room = `history-${randomBytes(4).toString('hex')}`
    const a = t.client(one.url, room)
    const b = t.client(two.url, room)
    await Promise.all([synced(a), synced(b)])
    const textOf = (client: typeof a) => client.doc.getText(ROOM_TEXT)
    const list = (server: typeof one) => server.server.history.of(room).list()

    for (let round = 0; round < 4; round++) {
      textOf(a).insert(textOf(a).length, `A${round} `.repeat(20))
      textOf(b).insert(0, `B${round} `.repeat(20))
      await waitFor(() => textOf(a).toString() === textOf(b).toString(), 'the clients to converge')
      await waitFor(async () => (await list(one)).length === round + 1, `version ${round + 1}`)
      // Both saw the pause; give the second a moment to have tried too.
      await new Promise((resolve) => setTimeout(resolve, 600))
      const [onOne, onTwo] = await Promise.all([list(one), list(two)])
      expect(onOne.length).toBe(round + 1)
      expect(onTwo).toEqual(onOne)
      const latest = onOne.at(-1)!
      expect(await one.server.history.of(room).text(latest.id)).toBe(textOf(a).toString())
      expect(await two.server.history.of(room).text(latest.id)).toBe(textOf(a).toString())
    }
    // A feed on one hears the version two makes (the bus carries it), once.
    const feed = await openFeed(one.port, room)
    await waitFor(() => feed.named('presence').length > 0, 'the feed on one to be live')
    const named = await two.server.history.of(room).name('On two', 'Bo')
    expect((await list(one)).at(-1)).toEqual(named)
    await waitFor(() => feed.named('version').length > 0, 'the version event on one')
    expect(feed.named('version').map((event) => JSON.parse(event.data))).toEqual([named])
    feed.close()

    textOf(a).insert(0, 'Last words. ')
    await waitFor(() => textOf(b).toString() === textOf(a).toString(), 'the clients to converge')
    const final = textOf(a).toString()
    a.destroy()
    b.destroy()
    await waitFor(
      () => one.server.rooms.get(room) === undefined && two.server.rooms.get(room) === undefined,
      'the room to unload on both',
      20_000,
    )
    const versions = await one.server.store.versions.listVersions(room)
    expect(versions.map((v) => v.kind)).toEqual(['auto', 'auto', 'auto', 'auto', 'named', 'auto'])
    expect(versions.at(-1)!.length).toBe(final.length)
  }, 90_000)
})
