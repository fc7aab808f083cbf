/**
 * Room policy across instances (issue #19, class 2): two in-process instances on one PostgreSQL and
 * one Redis, with access control on. A revocation or mode change made through one instance reaches
 * the connections and upgrades of the other at once (announced on the bus, re-read from the store),
 * and a change the other instance missed while its Redis was cut off is re-read when it is back.
 */
import { describe, expect, it } from 'vitest'
import { CloseCode } from '../shared/protocol/index.ts'
import { accessMessages, api, SECRET, tokenFor, tryUpgrade } from './helpers/auth.ts'
import { longTextUpdate, syncStep1Frame, syncUpdateFrame } from './helpers/hostile.ts'
import { sharedServices } from './helpers/instances.ts'
import { RawPeer } from './helpers/raw-peer.ts'
import { freshRedisPrefix, TEST_REDIS_URL } from './helpers/redis.ts'
import {
  cleanupAfterEach,
  closeCodes,
  connectClient,
  synced,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'
import { proxyFor } from './helpers/tcp-proxy.ts'

const cleanups = cleanupAfterEach()
const { skip, startInstance: start } = await sharedServices(cleanups)

const startInstance = (prefix: string, redisUrl = TEST_REDIS_URL): Promise<TestServer> =>
  start({ authSecret: SECRET, redisUrl, redisPrefix: prefix })

function client(server: TestServer, room: string, token: string) {
  const c = connectClient(server.url, room, { params: { token } })
  cleanups.push(() => c.destroy())
  return c
}

function raw(server: TestServer, path: string): RawPeer {
  const peer = new RawPeer(server.url, path)
  cleanups.push(() => peer.close())
  return peer
}

describe.skipIf(skip)('room policy across two instances', () => {
  it('a token revoked on one instance closes its connection on the other (4410) and is refused there', async () => {
    const prefix = freshRedisPrefix()
    const [one, two] = [await startInstance(prefix), await startInstance(prefix)]
    const room = 'revoked-across'
    const admin = (await tokenFor(room, 'admin')).token
    const edit = await tokenFor(room, 'edit')
    const editor = client(two, room, edit.token)
    const codes = closeCodes(editor)
    await synced(editor)

    const revoked = await api(one.port, 'POST', `/api/rooms/${room}/revoke`, {
      token: admin,
      body: { jti: edit.jti },
    })
    expect(revoked.status).toBe(200)
    await waitFor(
      () => codes.includes(CloseCode.revoked),
      'the connection on the other instance to close 4410',
    )
    expect(await tryUpgrade(two.url, `${room}?token=${edit.token}`)).toEqual({
      status: 401,
      body: 'token revoked',
    })
  })

  it('view mode set on one instance makes the other instance’s edit connections view-only (a write closes 4403)', async () => {
    const prefix = freshRedisPrefix()
    const [one, two] = [await startInstance(prefix), await startInstance(prefix)]
    const room = 'moded-across'
    const admin = (await tokenFor(room, 'admin')).token
    const edit = (await tokenFor(room, 'edit')).token
    const peer = raw(two, `${room}?tandem=1&token=${edit}`)
    await peer.opened
    await peer.send(syncStep1Frame())
    await waitFor(() => accessMessages(peer.received).length === 1, 'the access message after join')

    const set = await api(one.port, 'PUT', `/api/rooms/${room}/mode`, {
      token: admin,
      body: { mode: 'view' },
    })
    expect(set.status).toBe(200)
    await waitFor(
      () => accessMessages(peer.received).length === 2,
      'the access message on the other instance after the mode change',
    )
    expect(accessMessages(peer.received)).toEqual(['edit', 'view'])
    await peer.send(syncUpdateFrame(longTextUpdate(78, 10)))
    expect(await peer.closedWithin(10_000)).toBe(CloseCode.forbidden)
    const access = await api(two.port, 'GET', `/api/rooms/${room}/access`, { token: edit })
    expect(access.json).toMatchObject({ mode: 'view', effectiveAccess: 'view' })
  })

  it('a change made while an instance was cut off from Redis is re-read when it is back', async () => {
    const prefix = freshRedisPrefix()
    const { proxy, via } = await proxyFor(TEST_REDIS_URL, 6379, cleanups)
    const one = await startInstance(prefix)
    const two = await startInstance(prefix, via)
    const room = 'missed-across'
    const admin = (await tokenFor(room, 'admin')).token
    const edit = await tokenFor(room, 'edit')
    const other = (await tokenFor(room, 'edit')).token
    const editor = client(two, room, edit.token)
    const codes = closeCodes(editor)
    await synced(editor)
    // Instance two has read (and cached) the room's policy.
    expect((await api(two.port, 'GET', `/api/rooms/${room}/access`, { token: other })).json).toMatchObject({
      mode: 'edit',
    })

    proxy.cut()
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${two.port}/ready`)).status === 503,
      'two sees Redis down',
    )
    expect(
      (await api(one.port, 'POST', `/api/rooms/${room}/revoke`, { token: admin, body: { jti: edit.jti } }))
        .status,
    ).toBe(200)
    expect(
      (await api(one.port, 'PUT', `/api/rooms/${room}/mode`, { token: admin, body: { mode: 'view' } }))
        .status,
    ).toBe(200)
    proxy.restore()

    await waitFor(
      () => codes.includes(CloseCode.revoked),
      'the missed revocation to close the connection',
      30_000,
    )
    expect(await tryUpgrade(two.url, `${room}?token=${edit.token}`)).toEqual({
      status: 401,
      body: 'token revoked',
    })
    expect((await api(two.port, 'GET', `/api/rooms/${room}/access`, { token: other })).json).toMatchObject({
      mode: 'view',
      effectiveAccess: 'view',
    })
  }, 60_000)
})
