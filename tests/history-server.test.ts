/**
 * History on a real server (SQLite file, stock y-websocket clients): a version once typing pauses,
 * its text the client's, its author the writer's; a named version; the last version when the room
 * unloads; after a restart on the same file the versions are there and the next one is an op on
 * the last (the chain goes on).
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { rebuildText } from '../server/history/version-chain.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { cleanupAfterEach, makeTempDir, synced, type TestServer, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const t = tracked(cleanups)
const ROOM = 'history-room'

describe('history on a server', () => {
  it('makes versions as typing pauses, by name, on unload, and goes on after a restart', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const start = () => t.start({ db, historyQuietMs: 300, roomUnloadDelayMs: 100 })
    let server: TestServer = await start()
    let client = t.client(server.url, ROOM)
    await synced(client)
    client.provider.awareness.setLocalStateField('user', { name: 'Ann' })
    const text = () => client.doc.getText(ROOM_TEXT)
    const versions = () => server.server.history.of(ROOM).list()
    const latestText = async () => {
      const latest = (await versions()).at(-1)!
      return server.server.history.of(ROOM).text(latest.id)
    }

    text().insert(0, 'Hello world. '.repeat(20))
    await waitFor(async () => (await versions()).length === 1, 'a version after the pause')
    expect(await latestText()).toBe(text().toString())
    text().insert(0, 'Start. ')
    await waitFor(async () => (await versions()).length === 2, 'a second version')
    expect(await latestText()).toBe(text().toString())
    const named = await server.server.history.of(ROOM).name('First draft', 'Ann')
    expect(named).toMatchObject({ id: 3, kind: 'named', name: 'First draft', by: 'Ann' })

    text().insert(text().length, ' The end.')
    const final = text().toString()
    // No pause: the room unloads first, with its last version.
    client.destroy()
    await waitFor(() => server.server.rooms.get(ROOM) === undefined, 'the room to unload', 20_000)
    const stored = await server.server.store.versions.listVersions(ROOM)
    expect(stored.map((v) => v.kind)).toEqual(['auto', 'auto', 'named', 'auto'])
    expect(stored.map((v) => v.authors)).toEqual([['Ann'], ['Ann'], [], ['Ann']])
    expect(rebuildText(await server.server.store.versions.versionChain(ROOM, 4))).toBe(final)
    await server.close()

    server = await start()
    client = t.client(server.url, ROOM)
    await synced(client)
    expect(text().toString()).toBe(final)
    expect((await versions()).map((v) => v.id)).toEqual([1, 2, 3, 4])
    text().insert(0, 'Again. ')
    await waitFor(async () => (await versions()).length === 5, 'a version after the restart')
    const chain = await server.server.store.versions.versionChain(ROOM, 5)
    expect('op' in chain.at(-1)!.content).toBe(true)
    expect(rebuildText(chain)).toBe(text().toString())
  }, 60_000)
})
