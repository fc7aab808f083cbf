/**
 * The attacker side of bench/hostile.ts: one attack per class of the issue "hostile input can kill
 * the server" (round 1 here, round 2 in ./hostile-attacks-r2.ts), run in its own process against
 * the system under test. An attack first prepares (builds payloads, fills rooms; not measured),
 * then runs until a deadline, recording how each of its connections ended ("4413", "open",
 * "HTTP 400", "ECONNREFUSED", ...) and a few notes. Attacks target the room "victim", except
 * presence spoofing, which targets the healthy room.
 */
import * as Y from 'yjs'
import {
  awarenessFrame,
  bigAwarenessJson,
  clockOverflowUpdate,
  longTextUpdate,
  manyClientsUpdate,
  nestedJson,
  plainGetRequest,
  reverseDeleteSetUpdate,
  subdocsUpdate,
  syncUpdateFrame,
  upgradeRequest,
} from '../tests/helpers/hostile.ts'
import { type RawPeer, rawHttp } from '../tests/helpers/raw-peer.ts'
import {
  type Attack,
  Attacker,
  type AttackResult,
  type ClassSpec,
  MB,
  remaining,
  sleep,
  stockClientSyncs,
  stockProvider,
  type Target,
} from './hostile-attacker.ts'
import { ROUND2_ATTACKS, ROUND2_CLASSES } from './hostile-attacks-r2.ts'

/** The classes in report order (round 1, then round 2 with ids `r2-…`). */
export const CLASSES: ReadonlyArray<ClassSpec> = [
  { id: '0', attack: 'baseline: no attack' },
  { id: '1', attack: 'upgrade and GET of // and //[ over raw TCP' },
  { id: '2', attack: 'awareness state nested 10,000 deep, then a joiner' },
  {
    id: '3',
    attack: '~30-byte update pushing a clock past 2^53, room unload, joiner (SQLite)',
    sqlite: true,
  },
  { id: '4a', attack: 'delete set of 100k ranges in descending order (~400 KB), repeated' },
  { id: '4b', attack: '8 frames of ~5 MB of subdocument structs (1.8M subdocs)' },
  { id: '4c', attack: 'update introducing 500k client ids, then a ?tandem=1 editor' },
  { id: '5', attack: '100 KB awareness states at ~1k frames/s under new ids; presence spoofing' },
  { id: '6', attack: 'a reader that never reads while 2 MB updates flow' },
  { id: '7', attack: '20 MB room, 10 joiners at a time with empty state vectors' },
  { id: '8', attack: 'stock client with 8 MB of offline edits' },
  ...ROUND2_CLASSES,
]

/** One attack per class (see CLASSES). */
const ATTACKS: Record<string, (a: Attacker) => Attack> = {
  ...ROUND2_ATTACKS,
  '0': () => ({ prepare: async () => {}, run: (deadline) => sleep(remaining(deadline)) }),

  '1': (a) => ({
    prepare: async () => {},
    run: async (deadline) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const path = i % 2 === 0 ? '//' : '//['
        const answer = await rawHttp(a.port, i % 4 < 2 ? upgradeRequest(path) : plainGetRequest(path), 1_000)
        a.count(answer.status !== null ? `HTTP ${answer.status}` : (answer.error ?? 'no answer'))
        await sleep(50)
      }
    },
  }),

  '2': (a) => ({
    prepare: async () => {},
    run: async (deadline) => {
      while (Date.now() < deadline) {
        const sender = await a.open('victim')
        if (!sender) {
          await sleep(200)
          continue
        }
        await sender.send(awarenessFrame([{ clientID: a.nextClient++, clock: 1, json: nestedJson(10_000) }]))
        await sender.closedWithin(500)
        a.countEnd(sender)
        // The next joiner is what crashed the old server (re-encoding the stored state for it).
        const joiner = await a.open('victim')
        await sleep(300)
        sender.close()
        joiner?.close()
      }
    },
  }),

  '3': (a) => {
    let joins = 0
    let synced = 0
    return {
      prepare: async () => {},
      run: async (deadline) => {
        do {
          await a.sendAndRecord('victim', [syncUpdateFrame(clockOverflowUpdate(a.nextClient++))], 1_000)
          // Past the unload delay (2 s): the room is compacted and unloaded; then it must load again.
          await sleep(2_500)
          joins++
          if (await stockClientSyncs(a.url, 'victim', 3_000)) synced++
        } while (Date.now() < deadline)
        a.result.notes.push(`stock joiners of the attacked room (after unload) synced: ${synced}/${joins}`)
      },
    }
  },

  '4a': (a) => {
    const frames: Uint8Array[][] = []
    return {
      prepare: async () => {
        for (let i = 0; i < 8; i++) {
          const client = a.nextClient++
          frames.push([
            syncUpdateFrame(longTextUpdate(client, 100_000)),
            syncUpdateFrame(reverseDeleteSetUpdate(client, 100_000)),
          ])
        }
      },
      run: async (deadline) => {
        for (const pair of frames) {
          if (Date.now() >= deadline) break
          await a.sendAndRecord('victim', pair, Math.min(1_000, remaining(deadline)))
        }
      },
    }
  },

  '4b': (a) => {
    // ~21 bytes an item: 230k items make a ~4.8 MB frame, under the old 5 MiB frame limit.
    const PER_FRAME = 230_000
    let frames: Uint8Array[] = []
    return {
      prepare: async () => {
        const client = a.nextClient++
        frames = Array.from({ length: 8 }, (_, i) =>
          syncUpdateFrame(subdocsUpdate(client, PER_FRAME, i * PER_FRAME)),
        )
        a.result.notes.push(`frames of ${(frames[0].length / MB).toFixed(1)} MB`)
      },
      run: async (deadline) => {
        // All of it is delivered, however long a busy server takes to read it: the damage is the point.
        const peer = await a.open('victim')
        if (!peer) return
        for (const frame of frames) await peer.send(frame)
        await peer.closedWithin(Math.max(1_000, remaining(deadline)))
        a.countEnd(peer)
        peer.close()
      },
    }
  },

  '4c': (a) => {
    let frames: Uint8Array[] = []
    return {
      prepare: async () => {
        frames = [
          syncUpdateFrame(manyClientsUpdate(20_000_000, 250_000)),
          syncUpdateFrame(manyClientsUpdate(30_000_000, 250_000)),
        ]
      },
      run: async (deadline) => {
        await a.sendAndRecord('victim', frames, 5_000)
        // A ?tandem=1 editor: how big are the `saved` messages it gets after its own edits?
        const editor = await a.open('victim?tandem=1')
        if (!editor) return
        const savedSizes = () => editor.ofType(100).map((frame) => frame.length)
        const waitForSaved = async (count: number) => {
          const until = Date.now() + 5_000
          while (savedSizes().length < count && editor.closeCode === null && Date.now() < until)
            await sleep(20)
        }
        await waitForSaved(1)
        const onJoin = savedSizes()[0] ?? 0
        const doc = new Y.Doc()
        doc.clientID = 40_000_000
        let edits = 0
        do {
          const before = Y.encodeStateVector(doc)
          doc.getText('text').insert(0, 'e')
          await editor.send(syncUpdateFrame(Y.encodeStateAsUpdate(doc, before)))
          edits++
          await waitForSaved(edits + 1)
        } while (Date.now() < deadline && editor.closeCode === null)
        const after = Math.max(0, ...savedSizes().slice(1))
        a.result.notes.push(`saved message on join ${onJoin} B, after own edits (${edits}) up to ${after} B`)
        a.countEnd(editor, 'editor ')
        editor.close()
      },
    }
  },

  '5': (a) => {
    const state = bigAwarenessJson(100_000)
    return {
      prepare: async () => {},
      run: async (deadline, aliceId) => {
        // Spoofing the healthy typist: a higher clock, a removal, and clock 2^53-1.
        const spoofer = await a.open('healthy')
        const mallory = JSON.stringify({ user: { name: 'mallory' } })
        for (const [clock, json] of [
          [1_000, mallory],
          [1_001, 'null'],
          [Number.MAX_SAFE_INTEGER, mallory],
        ] as const) {
          await spoofer?.send(awarenessFrame([{ clientID: aliceId, clock, json }]))
        }
        let flooder: RawPeer | null = null
        let frames = 0
        while (Date.now() < deadline) {
          if (!flooder || flooder.closeCode !== null) {
            if (flooder) a.countEnd(flooder)
            flooder = await a.open('victim')
            if (!flooder) continue
          }
          // ~1k frames/s, as far as the socket takes them.
          for (let i = 0; i < 10 && flooder.ws.bufferedAmount < 16 * MB; i++) {
            void flooder.send(awarenessFrame([{ clientID: a.nextClient++, clock: 1, json: state }]))
            frames++
          }
          await sleep(10)
        }
        if (flooder) a.countEnd(flooder)
        if (spoofer) a.countEnd(spoofer, 'spoofer ')
        a.result.notes.push(`${frames} flood frames`)
      },
    }
  },

  '6': (a) => ({
    prepare: async () => {},
    run: async (deadline) => {
      const slow = await a.open('victim')
      const writer = await a.open('victim')
      if (!slow || !writer) return
      await sleep(100)
      const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
      socket.pause()
      const doc = new Y.Doc()
      doc.clientID = a.nextClient++
      const text = doc.getText('text')
      let sent = 0
      // 2 MB inserted and deleted again: the relay carries 2 MB a step, the stored room stays small.
      while (Date.now() < deadline && writer.closeCode === null) {
        let before = Y.encodeStateVector(doc)
        text.insert(0, 'w'.repeat(2 * MB))
        await writer.send(syncUpdateFrame(Y.encodeStateAsUpdate(doc, before)))
        before = Y.encodeStateVector(doc)
        text.delete(0, 2 * MB)
        await writer.send(syncUpdateFrame(Y.encodeStateAsUpdate(doc, before)))
        sent += 2
        await sleep(10)
      }
      a.countEnd(writer, 'writer ')
      socket.resume()
      await slow.closedWithin(3_000)
      a.countEnd(slow, 'slow reader ')
      a.result.notes.push(`${sent} MB relayed toward the slow reader`)
    },
  }),

  '7': (a) => ({
    prepare: async () => {
      // A 20 MB room, written in 4 MB updates (under the old 5 MiB frame limit).
      const writer = await a.open('victim')
      if (!writer) throw new Error('cannot reach the server')
      const doc = new Y.Doc()
      doc.clientID = a.nextClient++
      const text = doc.getText('text')
      for (let i = 0; i < 5; i++) {
        const before = Y.encodeStateVector(doc)
        text.insert(text.length, String(i).repeat(4 * MB))
        await writer.send(syncUpdateFrame(Y.encodeStateAsUpdate(doc, before)))
      }
      // Ready once a joiner gets all of it (the writes may still be in flight).
      let size = 0
      for (const until = Date.now() + 60_000; size < 20 * MB && Date.now() < until; await sleep(200)) {
        const check = await a.open('victim')
        size = check ? await a.fullSyncReplyBytes(check, 30_000) : 0
        check?.close()
      }
      a.result.notes.push(`room of ${(size / MB).toFixed(1)} MB`)
      writer.close()
    },
    run: async (deadline) => {
      while (Date.now() < deadline) {
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            const joiner = await a.open('victim')
            if (!joiner) return
            const size = await a.fullSyncReplyBytes(joiner, remaining(deadline) + 10_000)
            a.count(size >= 20 * MB ? 'full reply' : 'no full reply')
            joiner.close()
          }),
        )
      }
    },
  }),

  '8': (a) => ({
    prepare: async () => {},
    run: async (deadline) => {
      const doc = new Y.Doc()
      for (let i = 0; i < 8; i++) doc.getText('text').insert(i * MB, 'o'.repeat(MB))
      const provider = stockProvider(a.url, 'victim', doc, false)
      provider.on('connection-close', (event) => a.count(event ? String(event.code) : 'closed locally'))
      provider.connect()
      await sleep(remaining(deadline))
      provider.destroy()
      const check = await a.open('victim')
      const size = check ? await a.fullSyncReplyBytes(check, 5_000) : 0
      a.result.notes.push(`room holds ${(size / MB).toFixed(1)} MB of the 8 MB`)
      check?.close()
    },
  }),
}

/** The attack for class `id` against `target`, recording into `result`. */
export function makeAttack(id: string, target: Target, result: AttackResult): Attack {
  const attack = ATTACKS[id]
  if (!attack) throw new TypeError(`unknown class "${id}"`)
  return attack(new Attacker(target, result))
}
