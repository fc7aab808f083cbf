/**
 * Hostile input, class by class (issue "hostile input can kill the server"): each attack closes only
 * the attacker, with its named close code; the process stays up, nothing of a refused update is
 * stored, and a healthy client keeps syncing. Payloads come from helpers/hostile.ts; the seeded
 * fuzzes print their seed and the command that replays them.
 */
import { join } from 'node:path'
import * as decoding from 'lib0/decoding'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { type ServerConfig, SqliteStore } from '../server/index.ts'
import { CloseCode, MessageType, StorageState } from '../shared/protocol/index.ts'
import { FlakyStore } from './helpers/flaky-store.ts'
import {
  ascendingDeleteSetUpdate,
  awarenessFrame,
  bigAwarenessJson,
  clockOverflowPairUpdate,
  clockOverflowUpdate,
  longTextUpdate,
  manyClientsUpdate,
  nestedJson,
  plainGetRequest,
  randomAwarenessFrame,
  randomHttpRequest,
  reverseDeleteSetUpdate,
  SPOOFER_OWN_ID,
  spoofAwareness,
  subdocsUpdate,
  syncUpdateFrame,
  upgradeRequest,
} from './helpers/hostile.ts'
import { RawPeer, rawHttp } from './helpers/raw-peer.ts'
import {
  cleanupAfterEach,
  connectClient,
  makeTempDir,
  spawnServer,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'

const cleanups = cleanupAfterEach()
const KNOWN_CODES: number[] = Object.values(CloseCode)
const MiB = 1024 * 1024
/** Generous bound on how long a refused message may take to close its sender (a guard, not a timing). */
const CLOSE_GUARD_MS = 10_000

async function start(options: Partial<ServerConfig> & { db?: string } = {}): Promise<TestServer> {
  const server = await startServer(options)
  cleanups.push(() => server.close())
  return server
}

function client(url: string, room: string, options: Parameters<typeof connectClient>[2] = {}): TestClient {
  const c = connectClient(url, room, options)
  cleanups.push(() => c.destroy())
  return c
}

function raw(url: string, path: string): RawPeer {
  const peer = new RawPeer(url, path)
  cleanups.push(() => peer.close())
  return peer
}

/** Records the code of every close the stock provider sees. */
function closeCodes(c: TestClient): number[] {
  const codes: number[] = []
  c.provider.on('connection-close', (event) => {
    if (event) codes.push(event.code)
  })
  return codes
}

async function healthStatus(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/health`)).status
}

/** Two fresh stock clients in `room` exchange an edit both ways. */
async function roomStillSyncs(url: string, room: string): Promise<void> {
  const a = client(url, room)
  const b = client(url, room)
  await Promise.all([synced(a), synced(b)])
  a.text.insert(0, 'from a;')
  await waitFor(() => b.text.toString().includes('from a;'), `an edit from a to reach b in ${room}`)
  b.text.insert(0, 'from b;')
  await waitFor(() => a.text.toString().includes('from b;'), `an edit from b to reach a in ${room}`)
}

/** The entries of every `saved` message (type 100) in `frames`, decoded. */
function savedVectors(frames: Uint8Array[]): Array<Map<number, number>> {
  return frames
    .filter((frame) => frame[0] === MessageType.saved)
    .map((frame) => {
      const decoder = decoding.createDecoder(frame)
      decoding.readVarUint(decoder)
      return Y.decodeStateVector(decoding.readVarUint8Array(decoder))
    })
}

describe('class 1: requests whose URL the server cannot parse', () => {
  /** The real server process (a crash shows as an exit, not as an error inside the test runner). */
  async function spawnTracked() {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const child = await spawnServer(join(dir, 'tandem.db'))
    cleanups.push(child.stop)
    const exited = new Promise<string>((resolve) =>
      child.process.once('exit', (code, signal) => resolve(`exited (code ${code}, signal ${signal})`)),
    )
    const alive = () => child.process.exitCode === null && child.process.signalCode === null
    /** For failure messages: whether the process is gone (waiting briefly, as the exit trails the socket close). */
    const fate = () =>
      Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('running'), 1_000))])
    return { ...child, alive, fate, url: `ws://127.0.0.1:${child.port}` }
  }

  it('answers an upgrade to // or //[ with 400 and stays up', async () => {
    const server = await spawnTracked()
    for (const path of ['//', '//[']) {
      const result = await rawHttp(server.port, upgradeRequest(path))
      const fate = result.status === 400 ? 'running' : await server.fate()
      expect(result.status, `upgrade ${path}: ${JSON.stringify(result)}; server ${fate}`).toBe(400)
    }
    expect(server.alive()).toBe(true)
    expect(await healthStatus(server.port)).toBe(200)
    await roomStillSyncs(server.url, 'elsewhere')
  })

  it('answers a plain GET of // or //[ with 400 or 404 and stays up', async () => {
    const server = await spawnTracked()
    for (const path of ['//', '//[']) {
      const result = await rawHttp(server.port, plainGetRequest(path))
      const fate = result.status === 400 || result.status === 404 ? 'running' : await server.fate()
      expect([400, 404], `GET ${path}: ${JSON.stringify(result)}; server ${fate}`).toContain(result.status)
    }
    expect(server.alive()).toBe(true)
    expect(await healthStatus(server.port)).toBe(200)
    await roomStillSyncs(server.url, 'elsewhere')
  })

  seededTest('survives a seeded fuzz of raw upgrade and plain HTTP requests', async (gen) => {
    const server = await spawnTracked()
    const BATCHES = 15
    const PER_BATCH = 20
    for (let batch = 0; batch < BATCHES; batch++) {
      const requests = Array.from({ length: PER_BATCH }, () => randomHttpRequest(gen))
      const results = await Promise.all(requests.map((request) => rawHttp(server.port, request, 500)))
      const show = (i: number) => JSON.stringify(requests[i].slice(0, 300))
      expect(server.alive(), `server exited during batch ${batch}: ${requests.map((_, i) => show(i))}`).toBe(
        true,
      )
      results.forEach((result, i) => {
        if (result.status !== null) expect(result.status, `answer to ${show(i)}`).toBeLessThan(500)
      })
    }
    expect(await healthStatus(server.port)).toBe(200)
    await roomStillSyncs(server.url, 'after-fuzz')
  })
})

describe('class 2: awareness states the server cannot re-encode', () => {
  /** A writer fills `room`; a raw peer sends `json` as its awareness state; then a new client joins. */
  async function attackThenJoin(json: string, expectedCode: number) {
    const server = await start()
    const writer = client(server.url, 'presence')
    await synced(writer)
    writer.text.insert(0, 'written before the attack')
    const attacker = raw(server.url, 'presence')
    await attacker.opened
    await attacker.send(awarenessFrame([{ clientID: 4_040_404, clock: 1, json }]))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(expectedCode)
    const joiner = client(server.url, 'presence')
    await synced(joiner)
    await waitFor(() => joiner.text.toString() === 'written before the attack', 'the joiner to get the text')
    expect(await healthStatus(server.port)).toBe(200)
  }

  it('closes the sender of a state nested 10,000 deep with 4413; the next joiner syncs', async () => {
    await attackThenJoin(nestedJson(10_000), CloseCode.limitExceeded)
  })

  it('closes the sender of a state over maxAwarenessStateBytes with 4413; the next joiner syncs', async () => {
    await attackThenJoin(bigAwarenessJson(16 * 1024), CloseCode.limitExceeded)
  })

  seededTest('survives a seeded fuzz of awareness updates while a stock client edits', async (gen) => {
    const server = await start()
    const room = 'awareness-fuzz'
    const editor = client(server.url, room)
    const peer = client(server.url, room)
    editor.provider.awareness.setLocalStateField('user', { name: 'editor' })
    await Promise.all([synced(editor), synced(peer)])
    const victims = [editor.doc.clientID, peer.doc.clientID]
    const codes: number[] = []
    let attacker = raw(server.url, room)
    await attacker.opened
    for (let i = 0; i < 300; i++) {
      if (attacker.closeCode !== null) {
        codes.push(attacker.closeCode)
        attacker = raw(server.url, room)
        await attacker.opened
      }
      await attacker.send(randomAwarenessFrame(gen, victims))
      if (i % 10 === 0) editor.text.insert(prng.uint32(gen, 0, editor.text.length), `${i};`)
      await new Promise((resolve) => setImmediate(resolve))
    }
    for (const code of codes) expect(KNOWN_CODES, `close code ${code}`).toContain(code)
    await waitFor(() => peer.text.toString() === editor.text.toString(), 'the peer to keep syncing')
    expect(editor.text.toString().split(';').length - 1).toBe(30)
    const late = client(server.url, room)
    await synced(late)
    await waitFor(() => late.text.toString() === editor.text.toString(), 'the late joiner to get the text')
    await waitFor(
      () => late.provider.awareness.getStates().get(editor.doc.clientID)?.user?.name === 'editor',
      "the late joiner to see the editor's presence",
    )
    expect(await healthStatus(server.port)).toBe(200)
  })
})

describe('class 3: updates that push a clock past 2^53', () => {
  const variants: Array<[string, (client: number) => Uint8Array]> = [
    ['a GC struct of length 2^53-1 at clock 5', clockOverflowUpdate],
    ['two GC structs whose lengths sum past 2^53', clockOverflowPairUpdate],
  ]
  for (const [what, build] of variants) {
    it(`closes the sender of ${what} with 4422 and stores nothing of it`, async () => {
      const { dir, cleanup } = makeTempDir()
      cleanups.push(cleanup)
      const db = join(dir, 'tandem.db')
      const first = await startServer({ db })
      let firstClosed = false
      cleanups.push(() => (firstClosed ? undefined : first.close()))
      const writer = client(first.url, 'clocks')
      const witness = client(first.url, 'clocks')
      await Promise.all([synced(writer), synced(witness)])
      writer.text.insert(0, 'written before the attack')
      await waitFor(() => witness.text.toString() === 'written before the attack', 'the edit to be relayed')
      const attacker = raw(first.url, 'clocks')
      await attacker.opened
      await attacker.send(syncUpdateFrame(build(4_242_424)))
      expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.invalidUpdate)
      writer.provider.disconnect()
      witness.provider.disconnect()
      await first.close()
      firstClosed = true

      const second = await start({ db })
      const reader = client(second.url, 'clocks')
      const codes = closeCodes(reader)
      await synced(reader)
      expect(reader.text.toString()).toBe('written before the attack')
      expect(Y.decodeStateVector(Y.encodeStateVector(reader.doc)).has(4_242_424)).toBe(false)
      expect(codes).toEqual([])
    })
  }

  it('loads a room whose log holds a poisoned update and sets the update aside in quarantine', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const db = join(dir, 'tandem.db')
    const store = new SqliteStore(db)
    const good = new Y.Doc()
    const goodUpdates: Uint8Array[] = []
    good.on('update', (update: Uint8Array) => goodUpdates.push(update))
    good.getText('text').insert(0, 'good ')
    good.getText('text').insert(5, 'content')
    const poisoned = clockOverflowUpdate(4_242_424)
    await store.append([...goodUpdates, poisoned].map((update) => ({ room: 'poisoned', update })))
    await store.close()

    const server = await start({ db })
    const reader = client(server.url, 'poisoned')
    const codes = closeCodes(reader)
    await synced(reader)
    expect(reader.text.toString()).toBe('good content')
    expect(codes).not.toContain(CloseCode.internalError)
    const rows = await server.server.store.setAsideEntries('poisoned')
    expect(rows).toHaveLength(1)
    expect(Buffer.compare(Buffer.from(rows[0].data), Buffer.from(poisoned))).toBe(0)
    expect(rows[0].reason).toMatch(/\S/)
    // It is in the file's quarantine table, which survives a restart.
    await server.close()
    const sqlite = new SqliteStore(db)
    cleanups.push(() => sqlite.close())
    expect(sqlite.db.prepare('SELECT room FROM quarantine').all()).toEqual([{ room: 'poisoned' }])
  })
})

describe('updates that would stay pending', () => {
  it('closes with 4509 an update that refers to what the room lacks; the stock provider reconnects and resyncs it', async () => {
    const server = await start()
    const room = 'pending'
    const writer = client(server.url, room)
    const other = client(server.url, room)
    await Promise.all([synced(writer), synced(other)])
    const codes = closeCodes(writer)
    // Another tab's edit reached this doc without passing the server (as a BroadcastChannel would).
    const tab = new Y.Doc()
    tab.getText('text').insert(0, 'from the other tab;')
    Y.applyUpdate(writer.doc, Y.encodeStateAsUpdate(tab), writer.provider)
    // This edit's origin is the other tab's text, which the server does not have.
    writer.text.insert(writer.text.length, ' then mine')
    await waitFor(() => codes.includes(CloseCode.needsResync), 'the update to be refused with 4509')
    // The provider reconnects on its own (4500-4599) and its sync step 2 brings both edits.
    await waitFor(
      () => other.text.toString() === 'from the other tab; then mine',
      'both edits to reach the other client after the resync',
    )
    expect(server.server.rooms.get(room)?.doc.getText('text').toString()).toBe(
      'from the other tab; then mine',
    )
  })
})

describe('class 4: one message that costs too much', () => {
  it('refuses a delete set of 100,000 ranges in descending order; a peer in the room keeps syncing', async () => {
    const server = await start()
    const room = 'splits'
    const a = client(server.url, room)
    const b = client(server.url, room)
    await Promise.all([synced(a), synced(b)])
    const attacker = raw(server.url, room)
    await attacker.opened
    await attacker.send(syncUpdateFrame(longTextUpdate(5_151_515, 100_000)))
    await waitFor(() => b.text.length === 100_000, 'the 100,000-character insert to be relayed')
    await attacker.send(syncUpdateFrame(reverseDeleteSetUpdate(5_151_515, 100_000)))
    expect([CloseCode.limitExceeded, CloseCode.invalidUpdate]).toContain(
      await attacker.closedWithin(CLOSE_GUARD_MS),
    )
    a.text.insert(0, 'still here;')
    await waitFor(() => b.text.toString().startsWith('still here;'), 'the peer to keep syncing')
    expect(b.text.length).toBe(100_000 + 'still here;'.length)
  })

  it('refuses with 4413 an ascending delete set that would split 50,000 items; a small one passes', async () => {
    const server = await start()
    const room = 'ascending-splits'
    const b = client(server.url, room)
    await synced(b)
    const attacker = raw(server.url, room)
    await attacker.opened
    await attacker.send(syncUpdateFrame(longTextUpdate(5_252_525, 100_000)))
    await waitFor(() => b.text.length === 100_000, 'the 100,000-character insert to be relayed')
    // 100 splits are ordinary editing and pass; 50,000 in one message are past maxSplitWork.
    await attacker.send(syncUpdateFrame(ascendingDeleteSetUpdate(5_252_525, 100)))
    await waitFor(() => b.text.length === 100_000 - 100, 'the small deletion to be relayed')
    await attacker.send(syncUpdateFrame(ascendingDeleteSetUpdate(5_252_525, 50_000)))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    expect(server.server.rooms.get(room)?.doc.getText('text').length).toBe(100_000 - 100)
  })

  it('refuses an update creating 2,000 subdocuments with 4413', async () => {
    const server = await start()
    const attacker = raw(server.url, 'subdocs')
    await attacker.opened
    await attacker.send(syncUpdateFrame(subdocsUpdate(6_161_616, 2_000)))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    await roomStillSyncs(server.url, 'subdocs')
  })

  it('refuses an update introducing 2,000 new client ids with 4413', async () => {
    const server = await start()
    const attacker = raw(server.url, 'clients')
    await attacker.opened
    await attacker.send(syncUpdateFrame(manyClientsUpdate(100_000, 2_000)))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    await roomStillSyncs(server.url, 'clients')
  })

  it('sends a ?tandem=1 client only the changed state-vector entries after its edit, with 500 client ids in the room', async () => {
    const server = await start()
    const room = 'wide'
    const filler = raw(server.url, room)
    await filler.opened
    await filler.send(syncUpdateFrame(manyClientsUpdate(100_000, 500)))
    await waitFor(() => server.server.rooms.get(room)?.doc.getText('text').length === 500, '500 clients')
    const tandem = raw(server.url, `${room}?tandem=1`)
    await tandem.opened
    await waitFor(() => savedVectors(tandem.received).length >= 1, 'the saved message sent on join')
    const joinedWith = tandem.received.length
    const own = new Y.Doc()
    own.clientID = 777_777
    own.getText('text').insert(0, 'T')
    await tandem.send(syncUpdateFrame(Y.encodeStateAsUpdate(own)))
    await waitFor(
      () => savedVectors(tandem.received.slice(joinedWith)).some((sv) => sv.get(777_777) === 1),
      'a saved message covering the edit',
    )
    const after = savedVectors(tandem.received.slice(joinedWith))
    for (const sv of after) expect(sv.size, `saved after the edit: ${sv.size} entries`).toBeLessThan(10)
    expect(tandem.closeCode).toBeNull()
  })
})

describe('class 5: awareness floods and spoofing', () => {
  it("ignores one connection's awareness entries for another connection's client id", async () => {
    const server = await start()
    const room = 'spoof'
    const alice = client(server.url, room)
    const observer = client(server.url, room)
    alice.provider.awareness.setLocalStateField('user', { name: 'alice' })
    await Promise.all([synced(alice), synced(observer)])
    const aliceId = alice.doc.clientID
    const nameOf = (id: number) => observer.provider.awareness.getStates().get(id)?.user?.name
    await waitFor(() => nameOf(aliceId) === 'alice', 'the observer to see alice')
    const clock = alice.provider.awareness.meta.get(aliceId)!.clock
    const mallory = raw(server.url, room)
    await mallory.opened
    await spoofAwareness(mallory, aliceId, clock)
    await waitFor(() => nameOf(SPOOFER_OWN_ID) === 'bob', "the observer to see the spoofer's own state")
    expect(nameOf(aliceId)).toBe('alice')
    expect(mallory.closeCode).toBeNull()
    alice.provider.awareness.setLocalStateField('user', { name: 'alice again' })
    await waitFor(() => nameOf(aliceId) === 'alice again', "alice's own later update to reach the observer")
  })

  it('closes a connection that introduces more than 8 awareness client ids with 4413', async () => {
    const server = await start()
    const attacker = raw(server.url, 'many-ids')
    await attacker.opened
    for (let i = 0; i < 9; i++) {
      await attacker.send(awarenessFrame([{ clientID: 8_000_000 + i, clock: 1, json: '{"n":1}' }]))
    }
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    await roomStillSyncs(server.url, 'many-ids')
  })

  it('closes a connection that sends a burst of 500 awareness messages with rateLimited', async () => {
    const server = await start()
    const attacker = raw(server.url, 'burst')
    await attacker.opened
    for (let clock = 1; clock <= 500; clock++) {
      void attacker.send(awarenessFrame([{ clientID: 8_100_000, clock, json: `{"n":${clock}}` }]))
    }
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.rateLimited)
    await roomStillSyncs(server.url, 'burst')
  })

  it('closes a connection that sends a 100 KB awareness state with 4413', async () => {
    const server = await start()
    const attacker = raw(server.url, 'big-state')
    await attacker.opened
    await attacker.send(awarenessFrame([{ clientID: 8_200_000, clock: 1, json: bigAwarenessJson(100_000) }]))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.limitExceeded)
    await roomStillSyncs(server.url, 'big-state')
  })
})

describe('class 6: a client that never reads', () => {
  it('drops a connection whose unsent output passes maxBufferedBytes; the others keep syncing', async () => {
    // A reading peer's backlog stays below a few MB here; the paused one passes 8 MiB.
    const server = await start({ maxBufferedBytes: 8 * MiB, maxDocumentBytes: 64 * MiB })
    const room = 'slow'
    const writer = client(server.url, room)
    const reader = client(server.url, room)
    await Promise.all([synced(writer), synced(reader)])
    const slow = raw(server.url, room)
    await slow.opened
    await waitFor(() => slow.received.length > 0, 'the slow reader to join')
    ;(slow.ws as unknown as { _socket: { pause(): void } })._socket.pause()
    expect(server.server.connectionCount).toBe(3)
    // Loopback kernel buffers take a few MB before the server sees backpressure: send 40 MB.
    for (let i = 0; i < 40; i++) {
      writer.text.insert(writer.text.length, String.fromCharCode(97 + i).repeat(MiB))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await waitFor(() => server.server.connectionCount === 2, 'the slow reader to be dropped', 30_000)
    await waitFor(() => reader.text.length === 40 * MiB, 'the reader to receive all 40 MB', 60_000)
  })
})

describe('class 7: many joiners of a big room', () => {
  it('computes the sync reply of a 2 MB room once for 10 fresh joiners in a row', async () => {
    const server = await start()
    const room = 'big'
    const writer = client(server.url, room)
    await synced(writer)
    writer.text.insert(0, 'z'.repeat(2 * MiB))
    const loaded = () => server.server.rooms.get(room)
    await waitFor(() => loaded()?.doc.getText('text').length === 2 * MiB, 'the 2 MB edit to arrive')
    const hooks = loaded()!.__test
    const before = hooks.syncReplyEncodes
    for (let i = 0; i < 10; i++) {
      const joiner = client(server.url, room)
      await synced(joiner)
      await waitFor(() => joiner.text.length === 2 * MiB, `joiner ${i} to get the full text`)
    }
    expect(hooks.syncReplyEncodes - before).toBe(1)
  })
})

describe('class 8: offline work larger than the old 5 MiB frame limit', () => {
  /** A stock client that edits `bytes` of text offline, then connects. */
  async function offlineEditor(url: string, room: string, bytes: number) {
    const editor = client(url, room, { connect: false })
    for (let done = 0; done < bytes; done += MiB)
      editor.text.insert(done, 'o'.repeat(Math.min(MiB, bytes - done)))
    const codes = closeCodes(editor)
    editor.provider.connect()
    return { editor, codes }
  }

  it('syncs 8 MB of offline edits from a stock client with the default options', async () => {
    const server = await start()
    const { codes } = await offlineEditor(server.url, 'offline', 8 * MiB)
    const other = client(server.url, 'offline')
    await waitFor(
      () => other.text.length === 8 * MiB || codes.length > 0,
      'all 8 MB to reach another client (or a close)',
      60_000,
    )
    expect(codes).toEqual([])
    expect(other.text.length).toBe(8 * MiB)
  })

  it('refuses offline edits that would take the document past maxDocumentBytes with 4413', async () => {
    const server = await start({ maxDocumentBytes: MiB })
    const writer = client(server.url, 'quota')
    await synced(writer)
    writer.text.insert(0, 'w'.repeat(700 * 1024))
    await waitFor(
      () => server.server.rooms.get('quota')?.doc.getText('text').length === 700 * 1024,
      'the first edit',
    )
    // 500 KB fits a frame (the frame limit is the quota) but not the quota that is left.
    const { editor, codes } = await offlineEditor(server.url, 'quota', 500 * 1024)
    await waitFor(() => codes.length > 0, 'the offline editor to be closed')
    expect(codes[0]).toBe(CloseCode.limitExceeded)
    expect(editor.text.length).toBeGreaterThanOrEqual(500 * 1024)
    expect(writer.text.length).toBe(700 * 1024)
  })

  it('closes a frame larger than the whole quota with 4413 (it could never fit; not 1009, which providers retry)', async () => {
    const server = await start({ maxDocumentBytes: MiB })
    const { codes } = await offlineEditor(server.url, 'too-big', 2 * MiB)
    await waitFor(() => codes.length > 0, 'the offline editor to be closed')
    expect(codes[0]).toBe(CloseCode.limitExceeded)
  })
})

describe('storage failing signal', () => {
  it('tells ?tandem=1 clients when storage starts failing and when it recovers', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const store = new FlakyStore(new SqliteStore(join(dir, 'flaky.db')))
    const server = await start({ store, storeRetryMinMs: 20, storeRetryMaxMs: 50 })
    // Runs before the server closes (cleanups run last first): a failing store would hold the close.
    cleanups.push(() => {
      store.failing = false
    })
    const writer = client(server.url, 'storage')
    await synced(writer)
    const tandem = raw(server.url, 'storage?tandem=1')
    await tandem.opened
    await waitFor(() => tandem.received.length > 0, 'the tandem client to join')
    const storageStates = () => tandem.ofType(MessageType.storage).map((frame) => Array.from(frame))
    store.failing = true
    writer.text.insert(0, 'held back')
    await waitFor(
      () => storageStates().some((m) => m[1] === StorageState.failing),
      'a storage "failing" message',
    )
    store.failing = false
    await waitFor(() => storageStates().at(-1)?.[1] === StorageState.ok, 'a storage "ok" message')
    const states = storageStates().map((message) => message[1])
    const failedAt = states.indexOf(StorageState.failing)
    expect(states.slice(failedAt + 1)).toContain(StorageState.ok)
    expect(storageStates().every((message) => message.length === 2)).toBe(true)
  })
})
