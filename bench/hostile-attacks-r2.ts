/**
 * Round 2 of bench/hostile.ts (issue #19, "Hostile input, second round"): updates whose work or
 * memory is out of proportion to their bytes (r2-1a; r2-1b is the legitimate offline session that
 * must still get in), re-sent deletions at the rate limit (r2-3a from an edit link, r2-3b from a
 * view link), conflict and map-key walks (r2-walk), revocation floods (r2-4, r2-4cap with the rate
 * limit lifted so only the per-room cap holds) and a big paste crossing Redis between two
 * instances on PostgreSQL (r2-6). Classes 2 (policy across instances) and 5 (CSS through a caret)
 * are covered by tests/relay-policy-fanout.test.ts and tests/browser-presence.test.ts, not here.
 */
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import {
  backwardsTextUpdate,
  deleteRangeUpdate,
  type HandItem,
  handItemsUpdate,
  splitTextUpdates,
  syncUpdateFrame,
} from '../tests/helpers/hostile.ts'
import type { RawPeer } from '../tests/helpers/raw-peer.ts'
import {
  type Attack,
  type Attacker,
  type ClassSpec,
  MB,
  providerSynced,
  remaining,
  sleep,
  stockProvider,
  waitUntil,
} from './hostile-attacker.ts'

export const ROUND2_CLASSES: ReadonlyArray<ClassSpec> = [
  {
    id: 'r2-0pg',
    attack: 'baseline for r2-6: no attack, two instances on PostgreSQL + Redis',
    instances: 2,
    services: ['postgres', 'redis'],
  },
  { id: 'r2-1a', attack: '30.8 MiB frame of 4.3M one-character items typed backwards, 3 rooms, repeated' },
  { id: 'r2-1b', attack: 'legitimate: stock client with an offline session of 60,000 unmergeable items' },
  {
    id: 'r2-3a',
    attack: '11-byte re-delete of 120k deleted structs at 190 msg/s from 4 edit connections (SQLite)',
    sqlite: true,
  },
  {
    id: 'r2-3b',
    attack: 'the same from 4 view-link connections (links signed; SQLite)',
    sqlite: true,
    auth: true,
  },
  {
    id: 'r2-walk',
    attack: '60 items with origins 40,000 structs apart; 20,000 sets of one map key without origin',
  },
  {
    id: 'r2-4',
    attack: 'revocation flood: 10 rooms from POST /api/rooms, random jtis as fast as answered (SQLite)',
    sqlite: true,
    auth: true,
  },
  {
    id: 'r2-4cap',
    attack: 'revocation flood on one room with the admin rate limit lifted (--admin-per-minute 1e6)',
    sqlite: true,
    auth: true,
    serverArgs: ['--admin-per-minute', '1000000'],
  },
  {
    id: 'r2-6',
    attack: '20 MB paste as one update on instance A, received on B (PostgreSQL + Redis, healthy room on B)',
    instances: 2,
    services: ['postgres', 'redis'],
  },
]

/**
 * The update `backwardsTextUpdate(client, count)` builds (byte for byte), written directly so that
 * millions of items cost the attacker no Y.Doc: ~7.5 B an item with a one-byte client id.
 */
function backwardsItemsUpdate(client: number, count: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, count)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, 0)
  // The first item names its parent (root text "text"); each next one has the previous as right origin.
  encoding.writeUint8(encoder, 4)
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarString(encoder, 'text')
  encoding.writeVarString(encoder, 'x')
  for (let clock = 1; clock < count; clock++) {
    encoding.writeUint8(encoder, 64 | 4)
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, clock - 1)
    encoding.writeVarString(encoder, 'x')
  }
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

/** A stock client in `room` of instance `instance`, once synced (throws if it does not sync in 30 s). */
async function watcher(a: Attacker, room: string, instance = 0) {
  const doc = new Y.Doc()
  const provider = stockProvider(a.urlOf(instance), room, doc, true, await a.params(room, 'view'))
  if (!(await providerSynced(provider, 30_000))) throw new Error(`a stock client could not sync ${room}`)
  return {
    doc,
    text: doc.getText('text'),
    destroy: () => {
      provider.destroy()
      doc.destroy()
    },
  }
}

/** Sends `updates` in order through one raw connection to `room` (an edit link when signed). */
async function buildRoom(a: Attacker, room: string, updates: Uint8Array[]): Promise<RawPeer> {
  const builder = await a.open(await a.path(room, 'edit'))
  if (!builder) throw new Error(`cannot reach the server to build ${room}`)
  for (const update of updates) await builder.send(syncUpdateFrame(update))
  return builder
}

const round = (ms: number) => Math.round(ms)

/** Re-sent deletions (class 3): a room of `items` deleted structs, then the 11-byte re-delete at the rate limit. */
function redeleteFlood(access: 'edit' | 'view'): (a: Attacker) => Attack {
  const CLIENT = 7_000_003
  const ITEMS = 120_000
  const CONNECTIONS = 4
  const PER_SECOND = 190
  return (a) => {
    let room: Awaited<ReturnType<typeof watcher>>
    let builder: RawPeer
    return {
      prepare: async () => {
        // Typed backwards (unmergeable, sliced on arrival), then deleted in four ranges.
        const updates = [backwardsTextUpdate(CLIENT, ITEMS)]
        for (let i = 0; i < 4; i++) updates.push(deleteRangeUpdate(CLIENT, (i * ITEMS) / 4, ITEMS / 4))
        builder = await buildRoom(a, 'victim', updates)
        room = await watcher(a, 'victim')
        const built = await waitUntil(
          () => Y.getState(room.doc.store, CLIENT) === ITEMS && room.text.length === 0,
          120_000,
        )
        if (!built)
          throw new Error(`the room of ${ITEMS} deleted structs was not built (${builder.closeCode})`)
        a.result.notes.push(`room: ${room.doc.store.clients.get(CLIENT)?.length} deleted structs`)
      },
      run: async (deadline) => {
        const frame = syncUpdateFrame(deleteRangeUpdate(CLIENT, 0, ITEMS))
        let relayed = 0
        room.doc.on('update', () => relayed++)
        const appendsBefore = await a.metric('tandem_store_commit_batch_updates_sum')
        const path = await a.path('victim', access)
        const peers = (await Promise.all(Array.from({ length: CONNECTIONS }, () => a.open(path)))).filter(
          (peer): peer is RawPeer => peer !== null,
        )
        const started = Date.now()
        let sent = 0
        while (Date.now() < deadline && peers.some((peer) => peer.closeCode === null)) {
          const due = Math.floor(((Date.now() - started) / 1000) * PER_SECOND)
          for (; sent < due; sent++) for (const peer of peers) void peer.send(frame)
          await sleep(20)
        }
        const seconds = (Date.now() - started) / 1000
        await sleep(500)
        for (const peer of peers) {
          a.countEnd(peer, `${access} `)
          peer.close()
        }
        const appends = (await a.metric('tandem_store_commit_batch_updates_sum'))! - appendsBefore!
        a.result.notes.push(
          `${sent * peers.length} re-deletes (${Math.round(sent / seconds)}/s on each of ${peers.length}); ` +
            `updates a watcher in the room got: ${relayed}; store appends in the window: ${appends} ` +
            '(the healthy typist makes ~20/s)',
        )
        room.destroy()
        builder.close()
      },
    }
  }
}

/** Revocations with random token ids, as fast as the server answers, spread over `rooms` new rooms. */
function revocationFlood(rooms: number): (a: Attacker) => Attack {
  const admins: Array<{ room: string; token: string }> = []
  const databaseBytes = (dir: string) =>
    ['tandem.db', 'tandem.db-wal'].reduce((sum, file) => {
      try {
        return sum + statSync(join(dir, file)).size
      } catch {
        return sum
      }
    }, 0)
  return (a) => ({
    prepare: async () => {
      for (let i = 0; i < rooms; i++) {
        const res = await fetch(`http://127.0.0.1:${a.port}/api/rooms`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
        if (res.status === 201) admins.push((await res.json()) as { room: string; token: string })
        else a.count(`create HTTP ${res.status}`)
      }
      if (admins.length === 0) throw new Error('no room could be created')
    },
    run: async (deadline) => {
      const before = databaseBytes(a.target.dataDir!)
      let next = 0
      const started = Date.now()
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (Date.now() < deadline) {
            const { room, token } = admins[next++ % admins.length]
            try {
              const res = await fetch(`http://127.0.0.1:${a.port}/api/rooms/${room}/revoke`, {
                method: 'POST',
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                body: JSON.stringify({ jti: randomBytes(12).toString('base64url') }),
                signal: AbortSignal.timeout(5_000),
              })
              const body = (await res.json().catch(() => ({}))) as { code?: string }
              a.count(`HTTP ${res.status}${body.code ? ` ${body.code}` : ''}`)
            } catch (err) {
              a.count((err as Error).name)
            }
          }
        }),
      )
      const seconds = (Date.now() - started) / 1000
      const requests = Object.values(a.result.outcomes).reduce((sum, n) => sum + n, 0)
      a.result.notes.push(
        `${admins.length} rooms, ${Math.round(requests / seconds)} requests/s; SQLite file + WAL ` +
          `${(before / MB).toFixed(2)} → ${(databaseBytes(a.target.dataDir!) / MB).toFixed(2)} MB`,
      )
    },
  })
}

export const ROUND2_ATTACKS: Record<string, (a: Attacker) => Attack> = {
  'r2-0pg': () => ({ prepare: async () => {}, run: (deadline) => sleep(remaining(deadline)) }),

  'r2-1a': (a) => {
    let frame: Uint8Array
    const rooms = ['victim-1', 'victim-2', 'victim-3']
    return {
      prepare: async () => {
        frame = syncUpdateFrame(backwardsItemsUpdate(7, 4_300_000))
        a.result.notes.push(`frame of ${(frame.length / MB).toFixed(2)} MiB`)
      },
      run: async (deadline) => {
        let rounds = 0
        do {
          await Promise.all(rooms.map((room) => a.sendAndRecord(room, [frame], 20_000)))
          rounds++
        } while (Date.now() < deadline)
        const check = await watcher(a, rooms[0])
        a.result.notes.push(
          `${rounds} rounds of ${rooms.length} rooms; ${rooms[0]} holds ${check.text.length} chars`,
        )
        check.destroy()
      },
    }
  },

  'r2-1b': (a) => {
    const ITEMS = 60_000
    let session: Uint8Array
    return {
      prepare: async () => {
        session = backwardsTextUpdate(7_000_002, ITEMS, 'text')
      },
      run: async (deadline) => {
        const times: number[] = []
        let sessions = 0
        do {
          const room = `victim-${sessions++}`
          const other = await watcher(a, room)
          const offline = new Y.Doc()
          Y.applyUpdate(offline, session)
          const writer = stockProvider(a.url, room, offline, false)
          let active = true
          writer.on('connection-close', (event) => {
            if (active) a.count(`writer closed ${event?.code ?? 'locally'}`)
          })
          const started = performance.now()
          writer.connect()
          const wait = remaining(deadline) + 30_000
          if (await providerSynced(writer, wait)) a.count('synced')
          const all = await waitUntil(() => other.text.length === ITEMS, wait)
          a.count(all ? 'all seen by another client' : 'not all seen by another client')
          if (all) times.push(performance.now() - started)
          active = false
          writer.destroy()
          offline.destroy()
          other.destroy()
        } while (Date.now() < deadline)
        a.result.notes.push(
          `${sessions} sessions of ${ITEMS} items; another client had all of one after ${times.map(round).join(', ')} ms`,
        )
      },
    }
  },

  'r2-3a': redeleteFlood('edit'),
  'r2-3b': redeleteFlood('view'),

  'r2-walk': (a) => {
    const BASE = 7_000_005
    let room: Awaited<ReturnType<typeof watcher>>
    const far: HandItem[] = Array.from({ length: 60 }, () => ({ origin: [BASE, 1], right: [BASE, 39_999] }))
    const sets: HandItem[] = Array.from({ length: 20_000 }, () => ({
      origin: null,
      right: null,
      parent: 'm',
      parentSub: 'k',
    }))
    return {
      prepare: async () => {
        const builder = await buildRoom(a, 'victim', splitTextUpdates(BASE, 20_000, 500))
        room = await watcher(a, 'victim')
        if (!(await waitUntil(() => room.text.length === 20_000, 60_000)))
          throw new Error('the 20,000-character text in 40,000 structs was not built')
        builder.close()
      },
      run: async (deadline) => {
        const loop = async (items: HandItem[], label: string) => {
          let frames = 0
          while (Date.now() < deadline) {
            const frame = syncUpdateFrame(handItemsUpdate(a.nextClient++, 0, items))
            await a.sendAndRecord('victim', [frame], 5_000, label)
            frames++
          }
          return frames
        }
        const [walks, keys] = await Promise.all([loop(far, 'far origins '), loop(sets, 'map key ')])
        a.result.notes.push(
          `${walks} far-origin and ${keys} map-key frames; the room keeps ${room.text.length} chars and ` +
            `${room.doc.getMap('m').size} map entries`,
        )
        room.destroy()
      },
    }
  },

  'r2-4': revocationFlood(10),
  'r2-4cap': revocationFlood(1),

  'r2-6': (a) => {
    // 20 MB first; if the server refuses it, 10 MB from a fresh client in a fresh room.
    const SIZES = [20 * MB, 10 * MB]
    const pastes = new Map<number, string>()
    return {
      prepare: async () => {
        for (const size of SIZES) pastes.set(size, 'p'.repeat(size))
      },
      run: async (deadline) => {
        const failures = async () =>
          ((await a.metric('tandem_redis_failures_total', 0)) ?? NaN) +
          ((await a.metric('tandem_redis_failures_total', 1)) ?? NaN)
        const failuresBefore = await failures()
        const resyncsBefore = await a.metric('tandem_fanout_resyncs_total', 1)
        let polling = true
        let polls = 0
        const readiness = (async () => {
          while (polling) {
            polls++
            for (const [i, name] of ['A', 'B'].entries()) {
              const status = await fetch(`http://127.0.0.1:${a.target.ports[i]}/ready`, {
                signal: AbortSignal.timeout(2_000),
              }).then(
                (res) => String(res.status),
                (err: Error) => err.name,
              )
              if (status !== '200') a.count(`${name} /ready ${status}`)
            }
            await sleep(250)
          }
        })()
        const results: string[] = []
        for (const size of SIZES) {
          const room = `paste-${size / MB}mb`
          const senderDoc = new Y.Doc()
          const sender = stockProvider(a.urlOf(0), room, senderDoc)
          const receiver = await watcher(a, room, 1)
          if (!(await providerSynced(sender, 30_000))) throw new Error('the sender could not sync on A')
          let closed: number | string | null = null
          sender.on('connection-close', (event) => {
            closed ??= event?.code ?? 'locally'
          })
          const started = performance.now()
          senderDoc.getText('text').insert(0, pastes.get(size)!)
          const got = await waitUntil(
            () => receiver.text.length === size || closed !== null,
            remaining(deadline) + 60_000,
          )
          const took = round(performance.now() - started)
          const mb = size / MB
          const outcome = receiver.text.length === size ? 'received on B' : `sender closed ${closed}`
          a.count(`${mb} MB paste ${got ? outcome : 'not received on B'}`)
          results.push(`${mb} MB: ${outcome} after ${took} ms`)
          sender.destroy()
          receiver.destroy()
          senderDoc.destroy()
          if (receiver.text.length === size) break
        }
        await sleep(remaining(deadline))
        polling = false
        await readiness
        a.result.notes.push(
          `${results.join(', ')}; redis failures ${failuresBefore} → ${await failures()}, resyncs on B ` +
            `${resyncsBefore} → ${await a.metric('tandem_fanout_resyncs_total', 1)}; /ready polled ${polls}× on each`,
        )
      },
    }
  },
}
