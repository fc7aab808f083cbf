/**
 * The same seeded scenario through both paths: K clients make random concurrent edits over a simulated
 * network (random delays, so messages interleave across links; links that break, lose what is in flight
 * and reconnect). Path 1: Y.Docs around a hub Y.Doc exchanging real y-protocols sync messages. Path 2:
 * OTClients around an OTServer. Each path must converge; with disjoint regions both give the same text;
 * with concurrent inserts at one position both keep every character (in their own order, see docs/ot.md).
 * Each test sweeps 12 seeds from the run's seed (one with SEED=n); a failure prints the failing seed and the
 * command that replays it (helpers/seed.ts).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { describe, expect } from 'vitest'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { type ClientMessage, OTClient, OTServer, type ServerMessage, spliceOp } from '../shared/ot/index.ts'
import { MessageType } from '../shared/protocol/index.ts'
import { seededTest, seedRange } from './helpers/seed.ts'
import { StarNetwork } from './helpers/sim-network.ts'

const SEEDS = 12
const K = 4
const STEPS = 400

type Kind = 'random' | 'disjoint' | 'same-position'

/** One collaboration path: K clients and a hub on a simulated network. */
interface Path {
  edit(client: number, pos: number, del: number, ins: string): void
  text(client: number): string
  hubText(): string
  disconnect(client: number): void
  reconnect(client: number): void
  net: StarNetwork<unknown>
}

function yjsPath(gen: prng.PRNG, initial: string): Path {
  const net = new StarNetwork<Uint8Array>(gen, K, { maxDelay: 20, fifo: true })
  const hub = new Y.Doc()
  hub.clientID = 1000
  hub.getText('text').insert(0, initial)
  const seed = Y.encodeStateAsUpdate(hub)
  const docs = Array.from({ length: K }, (_, i) => {
    const doc = new Y.Doc()
    doc.clientID = i + 1
    Y.applyUpdate(doc, seed, 'remote')
    return doc
  })
  const frame = (write: (e: encoding.Encoder) => void) => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MessageType.sync)
    write(e)
    return encoding.toUint8Array(e)
  }
  /** Reads one sync message into `doc`; returns the reply frame, if the message asks for one. */
  const handle = (doc: Y.Doc, message: Uint8Array, origin: unknown): Uint8Array | null => {
    const decoder = decoding.createDecoder(message)
    if (decoding.readVarUint(decoder) !== MessageType.sync) throw new Error('unexpected message type')
    const reply = encoding.createEncoder()
    encoding.writeVarUint(reply, MessageType.sync)
    syncProtocol.readSyncMessage(decoder, reply, doc, origin)
    return encoding.length(reply) > 1 ? encoding.toUint8Array(reply) : null
  }
  docs.forEach((doc, i) => {
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== 'remote')
        net.toHub(
          i,
          frame((e) => syncProtocol.writeUpdate(e, update)),
        )
    })
    net.onClient(i, (message) => {
      const reply = handle(doc, message, 'remote')
      if (reply) net.toHub(i, reply)
    })
  })
  hub.on('update', (update: Uint8Array, origin: unknown) => {
    for (let j = 0; j < K; j++)
      if (j !== origin)
        net.toClient(
          j,
          frame((e) => syncProtocol.writeUpdate(e, update)),
        )
  })
  net.onHub((from, message) => {
    const reply = handle(hub, message, from)
    if (reply) net.toClient(from, reply)
  })
  return {
    net: net as StarNetwork<unknown>,
    edit(i, pos, del, ins) {
      const text = docs[i].getText('text')
      docs[i].transact(() => {
        if (del > 0) text.delete(pos, del)
        if (ins) text.insert(pos, ins)
      })
    },
    text: (i) => docs[i].getText('text').toString(),
    hubText: () => hub.getText('text').toString(),
    disconnect: (i) => net.disconnect(i),
    reconnect(i) {
      net.reconnect(i)
      net.toHub(
        i,
        frame((e) => syncProtocol.writeSyncStep1(e, docs[i])),
      )
      net.toClient(
        i,
        frame((e) => syncProtocol.writeSyncStep1(e, hub)),
      )
    },
  }
}

function otPath(gen: prng.PRNG, initial: string): Path {
  const net = new StarNetwork<ClientMessage | ServerMessage>(gen, K, { maxDelay: 20, fifo: true })
  const server = new OTServer(initial)
  // The transport's part: broadcast only to clients whose hello arrived on their current connection.
  const joined = new Array<boolean>(K).fill(false)
  const clients = Array.from({ length: K }, (_, i) => new OTClient(`c${i}`, (m) => net.toHub(i, m), initial))
  net.onHub((from, message) => {
    if ((message as ClientMessage).type === 'hello') joined[from] = true
    for (const out of server.receive(message as ClientMessage)) {
      for (let j = 0; j < K; j++) {
        if (joined[j] && (out.to === 'all' || out.to === clients[j].id)) net.toClient(j, out.message)
      }
    }
  })
  clients.forEach((client, i) => {
    net.onClient(i, (m) => client.receive(m as ServerMessage))
    client.connect()
  })
  return {
    net: net as StarNetwork<unknown>,
    edit: (i, pos, del, ins) => clients[i].applyLocal(spliceOp(pos, del, ins)),
    text: (i) => clients[i].text(),
    hubText: () => server.text(),
    disconnect(i) {
      net.disconnect(i)
      joined[i] = false
      clients[i].disconnect()
    },
    reconnect(i) {
      net.reconnect(i)
      clients[i].connect()
    },
  }
}

const marker = (i: number) => `<${i}>`
const initialText = (kind: Kind) =>
  kind === 'disjoint' ? Array.from({ length: K }, (_, i) => marker(i)).join('') : 'shared text\n'

/** Runs one scenario on one path; returns the final text and every character the clients inserted. */
function run(kind: Kind, seed: number, makePath: typeof yjsPath): { text: string; inserted: string } {
  const script = prng.create(seed)
  const path = makePath(prng.create(seed + 1), initialText(kind))
  const down = new Set<number>()
  let inserted = ''
  let serial = 0
  for (let step = 0; step < STEPS; step++) {
    const r = prng.real53(script)
    const client = prng.uint32(script, 0, K - 1)
    if (r < 0.4) {
      const text = path.text(client)
      let from = 0
      let to = text.length
      if (kind === 'disjoint') {
        from = text.indexOf(marker(client)) + marker(client).length
        to = client + 1 < K ? text.indexOf(marker(client + 1)) : text.length
      }
      const pos = kind === 'same-position' ? 0 : from + Math.floor(prng.real53(script) * (to - from + 1))
      const del = kind === 'same-position' ? 0 : Math.min(to - pos, prng.uint32(script, 0, 3) === 0 ? 2 : 0)
      // Unique characters, so a lost or duplicated one shows.
      const ins = Array.from({ length: prng.uint32(script, 1, 3) }, () =>
        String.fromCharCode(0x4e00 + client * 4096 + (serial++ % 4096)),
      ).join('')
      inserted += ins
      path.edit(client, pos, del, ins)
    } else if (r < 0.9) {
      for (let n = prng.uint32(script, 1, 3); n > 0; n--) path.net.deliverNext()
    } else if (r < 0.95 && !down.has(client)) {
      down.add(client)
      path.disconnect(client)
    } else if (down.has(client)) {
      down.delete(client)
      path.reconnect(client)
    }
  }
  for (const c of down) path.reconnect(c)
  path.net.flush()
  const text = path.hubText()
  for (let i = 0; i < K; i++) expect(path.text(i), `client ${i} diverged from the hub`).toBe(text)
  return { text, inserted }
}

const sorted = (s: string) => [...s].sort().join('')

describe('OT and Yjs on the same seeded scenarios', () => {
  for (const kind of ['random', 'disjoint', 'same-position'] as Kind[]) {
    seededTest(
      `${kind}: both paths converge${kind === 'random' ? '' : ' and agree'}`,
      // Each path replays the seed from the start, so `run` makes its own PRNGs from it.
      (_gen, seed) => {
        const yjs = run(kind, seed, yjsPath)
        const ot = run(kind, seed, otPath)
        if (kind === 'disjoint') expect(ot.text, 'disjoint regions give one text').toBe(yjs.text)
        if (kind === 'same-position') {
          const expected = sorted(initialText(kind) + yjs.inserted)
          expect(yjs.inserted).toBe(ot.inserted)
          expect(sorted(yjs.text), 'Yjs kept every inserted character once').toBe(expected)
          expect(sorted(ot.text), 'OT kept every inserted character once').toBe(expected)
        }
      },
      { seeds: seedRange(SEEDS) },
    )
  }
})
