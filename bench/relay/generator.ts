/**
 * The load generator: a child process (forked by the harness, pinned to its own core) that holds
 * every client socket of a run. Each client owns a Y.Doc for its room and edits the room's one shared
 * text by replaying an editing trace (./edit-script.ts) and applies every update the server relays,
 * so its positions refer to the real shared text, as an editor's do. It applies them in one
 * transaction just before its own next edit rather than one by one as they arrive: the positions
 * are the same, the server's work is the same, and the generator, which plays every client of a
 * room, does a fraction of the work. With `positions: 'uniform'` the clients edit at uniformly
 * random places instead of replaying the trace (./edit-script.ts uniformEdit). Inserted text starts with a send-time marker, which receivers
 * look for in the relayed bytes on arrival; pure deletes carry no marker and are not timed. Cursors
 * (awareness) move on their own clock; awareness received is not applied (no server's work depends
 * on it). Commands arrive over IPC:
 *
 *   connect  -> open and sync the clients of every room (spread over the server's instances,
 *               if it has several)                         -> {type: 'connected'}
 *   seed     -> one client per room types a given number of edits at full speed, and every
 *               member catches up with them (untimed)    -> {type: 'seeded'}
 *   run      -> paced edits + awareness, warm-up, measured window (announced with 'mark' events)
 *               and a grace period for stragglers         -> {type: 'result'}
 *   texts    -> every client's copy of its room's text      -> {type: 'texts'}
 *   populate -> push one big update into a room            -> {type: 'populated'}
 *   coldLoad -> time until a new client holds a document  -> {type: 'loaded'}
 *   close    -> close every socket and exit
 *
 * Marker: '@@' + 7 base-36 digits of the send time in microseconds since this process started + 3
 * base-36 digits of the sending client's index (servers that echo an update to its sender, as the
 * y-websocket servers do, must not count as delivering it).
 */
import { performance } from 'node:perf_hooks'
import * as prng from 'lib0/prng'
import WebSocket from 'ws'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import {
  type EditScript,
  type PlacedEdit,
  type Positions,
  placeEdit,
  SHARED_TEXT,
  startingPatch,
  uniformEdit,
} from './edit-script.ts'
import { loopDelayMs, loopHistogram } from './loop-delay.ts'
import {
  awarenessFrame,
  type Dialect,
  openingFrames,
  readReceived,
  roomUrl,
  syncFrame,
  YSync,
} from './wire.ts'

export type GeneratorCommand =
  | {
      cmd: 'connect'
      /**
       * The system's addresses (one per server instance): member i of every room connects to
       * bases[i % bases.length], so the writers, and the watchers, of a room alternate between them.
       */
      bases: string[]
      dialect: Dialect
      rooms: string[]
      clientsPerRoom: number
      /** Members of each room that edit (the first ones); the rest watch. Default: all of them. */
      writersPerRoom?: number
      presence: boolean
      /** False for a server that answers no sync request (the raw relay): open counts as synced. */
      serverSyncs: boolean
      /** The trace the clients replay. */
      script: EditScript
      /** Where they edit: the trace's positions (default) or uniformly random ones. */
      positions?: Positions
    }
  | {
      cmd: 'run'
      editsPerSec: number
      awarenessPerSec: number
      warmupMs: number
      measureMs: number
      graceMs: number
    }
  | {
      cmd: 'seed'
      /** Edits to type into each room, in the order of connect's `rooms`. */
      editsPerRoom: number[]
    }
  | { cmd: 'texts' }
  | { cmd: 'populate'; base: string; dialect: Dialect; room: string; update: Uint8Array }
  | {
      cmd: 'coldLoad'
      base: string
      dialect: Dialect
      room: string
      expectedLength: number
      timeoutMs: number
    }
  | { cmd: 'close' }

/** What one measured window produced. Latencies are edit-to-remote, in milliseconds. */
export interface RunResult {
  type: 'result'
  windowMs: number
  /** Document updates sent in the window (inserts, deletes and replacements). */
  edits: number
  /** Of those, the ones that inserted text and so carried a marker (the timed ones). */
  timedEdits: number
  /** Document updates the clients should have sent in the window at the requested rate. */
  requestedEdits: number
  /** Clients that edit. */
  writers: number
  /** Awareness updates sent in the window. */
  awareness: number
  /** Marker deliveries expected (timed edits x other members) and seen. */
  expected: number
  delivered: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  /** p99 of the edits sent in each second of the window: when the slow ones were sent. */
  p99PerSecondMs: number[]
  generatorCpuPct: number
  /** The kernel's share of the generator's CPU time (%): its sockets' syscalls and loopback TCP. */
  generatorKernelSharePct: number
  /** The generator's own event-loop delay over the window: late receipts inflate the latencies. */
  generatorLoopP99Ms: number
  generatorLoopMaxMs: number
  /** Sends the pacer could not make on time (it skipped ahead). */
  skipped: number
  /** Client sockets no longer open at the end of the run (closed by the server or failed). */
  closedClients: number
  /** Median length of a room's shared text at the end of the run, in characters. */
  textLength: number
}

const MARK = Buffer.from('@@')
const MARK_TIME_DIGITS = 7
const MARK_CLIENT_DIGITS = 3
const MARK_DIGITS = MARK_TIME_DIGITS + MARK_CLIENT_DIGITS
const MARK_BODY = new RegExp(`^[0-9a-z]{${MARK_DIGITS}}$`)
const CONNECT_CONCURRENCY = 100
const CONNECT_TIMEOUT_MS = 30_000
/** Transaction origin of the updates a client applies from the server. */
const REMOTE = 'remote'

const nowUs = (): number => performance.now() * 1000

class Client {
  readonly doc = new Y.Doc()
  readonly text = this.doc.getText(SHARED_TEXT)
  readonly awareness = new awarenessProtocol.Awareness(this.doc)
  private pendingUpdate: Uint8Array | null = null
  private pendingAwareness: Uint8Array | null = null
  /** Updates received since this client last applied what it received. */
  private inbox: Uint8Array[] = []
  /** Takes the update of a local edit (registered only then: Yjs encodes one for every listener). */
  private readonly takeUpdate = (update: Uint8Array): void => {
    this.pendingUpdate = update
  }
  /** Where this client's next edit continues: right after its last insert, moved by others' edits. */
  private cursor: Y.RelativePosition | null = null
  private nextPatch = 0
  private replayed = 0
  ws!: WebSocket
  synced = false
  nextEditUs = 0
  nextAwarenessUs = 0
  peers = 0
  /** Edits in `run`; a watcher only reads (and moves its cursor). */
  writer = true
  /**
   * A watcher in a run does not apply what it receives (it edits nothing, so nothing it does
   * depends on it): the generator's work per update is then one apply per other writer, not per member.
   */
  watching = false

  /** This client's index as it appears in its markers. */
  private readonly tag: string
  /** The source of uniform-random edits (null: the client replays the trace). */
  private readonly random: prng.PRNG | null

  constructor(
    readonly dialect: Dialect,
    readonly room: string,
    index: number,
    private readonly script: EditScript | null,
    readonly onMarker: (sentUs: number) => void,
    positions: Positions = 'trace',
  ) {
    this.random = positions === 'uniform' ? prng.create(index + 1) : null
    this.tag = index.toString(36).padStart(MARK_CLIENT_DIGITS, '0').slice(-MARK_CLIENT_DIGITS)
    if (script) this.nextPatch = startingPatch(script, index)
    this.awareness.on('update', ({ added, updated }: { added: number[]; updated: number[] }) => {
      this.pendingAwareness = awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...added, ...updated])
    })
  }

  connect(base: string, serverSyncs = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sync timed out in ${this.room}`)), CONNECT_TIMEOUT_MS)
      this.ws = new WebSocket(roomUrl(this.dialect, base, this.room), { perMessageDeflate: false })
      this.ws.binaryType = 'nodebuffer'
      this.ws.on('open', () => {
        for (const f of openingFrames(this.dialect, this.room, Y.encodeStateVector(this.doc))) this.ws.send(f)
        if (!serverSyncs) {
          this.synced = true
          clearTimeout(timer)
          resolve()
        }
      })
      this.ws.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      this.ws.on('close', (code) => {
        if (!this.synced) reject(new Error(`closed with ${code} before sync in ${this.room}`))
      })
      this.ws.on('message', (data: Buffer) => {
        const message = readReceived(this.dialect, data)
        if (message.kind !== 'sync') return
        if (message.syncType === YSync.step1) {
          // Through the raw relay this is another client's request, which every member would answer
          // to every member: a storm as a room fills. Clients there connect before anyone edits.
          if (!serverSyncs) return
          this.catchUp()
          const reply = Y.encodeStateAsUpdate(this.doc, message.payload)
          this.ws.send(syncFrame(this.dialect, this.room, YSync.step2, reply))
          return
        }
        if (this.synced) this.scan(message.payload)
        if (!this.watching) this.inbox.push(message.payload)
        if (message.syncType === YSync.step2 && !this.synced) {
          this.catchUp()
          this.synced = true
          clearTimeout(timer)
          resolve()
        }
      })
    })
  }

  /** Applies the updates received so far, in one transaction. */
  catchUp(): void {
    if (this.inbox.length === 0) return
    const updates = this.inbox
    this.inbox = []
    this.doc.transact(() => {
      for (const update of updates) Y.applyUpdate(this.doc, update, REMOTE)
    }, REMOTE)
  }

  /** Calls onMarker for every send-time marker in a relayed update. */
  private scan(data: Uint8Array): void {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    let at = bytes.indexOf(MARK)
    while (at !== -1 && at + 2 + MARK_DIGITS <= bytes.length) {
      const digits = bytes.toString('latin1', at + 2, at + 2 + MARK_DIGITS)
      // An '@' just before a marker (a string length of 64 is encoded as '@') is not one: move on by a byte.
      if (!MARK_BODY.test(digits)) {
        at = bytes.indexOf(MARK, at + 1)
        continue
      }
      if (digits.slice(MARK_TIME_DIGITS) !== this.tag) {
        this.onMarker(Number.parseInt(digits.slice(0, MARK_TIME_DIGITS), 36))
      }
      at = bytes.indexOf(MARK, at + 2 + MARK_DIGITS)
    }
  }

  /**
   * Makes the next edit (the trace's next patch, or a uniform-random one) on the shared text and
   * sends the update. Returns true if the edit inserted text (and so carries the marker of
   * `sentUs`), false for a pure delete.
   */
  edit(sentUs: number): boolean {
    this.catchUp()
    const length = this.text.length
    const placed = this.random ? uniformEdit(this.random, length) : this.nextPatchPlaced(length)
    const inserted = placed.insert.length > 0 ? this.marker(sentUs) + placed.insert : ''
    this.doc.on('update', this.takeUpdate)
    this.doc.transact(() => {
      if (placed.deleteCount > 0) this.text.delete(placed.index, placed.deleteCount)
      if (inserted) this.text.insert(placed.index, inserted)
    })
    this.doc.off('update', this.takeUpdate)
    // Bound to the character before it (assoc -1), so the next keystroke continues this insert.
    this.cursor = Y.createRelativePositionFromTypeIndex(this.text, placed.index + inserted.length, -1)
    const update = this.pendingUpdate
    this.pendingUpdate = null
    if (update && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(syncFrame(this.dialect, this.room, YSync.update, update))
    }
    return inserted.length > 0
  }

  /** The trace's next patch, placed in a shared text of `length` characters. */
  private nextPatchPlaced(length: number): PlacedEdit {
    const script = this.script
    if (!script) throw new Error('edit() on a client without an edit script')
    const cursor = this.cursor && Y.createAbsolutePositionFromRelativePosition(this.cursor, this.doc)
    let placed = placeEdit(script, this.nextPatch, cursor ? cursor.index : null, length, this.replayed === 0)
    // A delete with nothing left to delete (an empty text) is no edit: replay the next patch instead.
    while (placed.deleteCount === 0 && placed.insert.length === 0) {
      this.nextPatch = (this.nextPatch + 1) % script.positions.length
      placed = placeEdit(script, this.nextPatch, cursor ? cursor.index : null, length, false)
    }
    this.nextPatch = (this.nextPatch + 1) % script.positions.length
    this.replayed++
    return placed
  }

  private marker(sentUs: number): string {
    return `@@${sentUs.toString(36).padStart(MARK_TIME_DIGITS, '0')}${this.tag}`
  }

  /** Moves this client's cursor (to where it edits, as a relative position, as y-codemirror does). */
  moveCursor(): void {
    const at = this.cursor ?? Y.createRelativePositionFromTypeIndex(this.text, 0)
    this.awareness.setLocalStateField('cursor', { anchor: at, head: at })
    const update = this.pendingAwareness
    this.pendingAwareness = null
    if (update && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(awarenessFrame(this.dialect, this.room, update))
    }
  }

  announce(name: string): void {
    this.awareness.setLocalStateField('user', { name, color: '#30bced' })
    this.moveCursor()
  }
}

let clients: Client[] = []
let windowStartUs = Number.POSITIVE_INFINITY
let windowEndUs = Number.NEGATIVE_INFINITY
let latencies: number[] = []
/** The second of the window each latency's edit was sent in. */
let sentSeconds: number[] = []

function recordMarker(sentUs: number): void {
  if (sentUs < windowStartUs || sentUs >= windowEndUs) return
  latencies.push((nowUs() - sentUs) / 1000)
  sentSeconds.push(Math.floor((sentUs - windowStartUs) / 1e6))
}

/** The p99 latency of the edits sent in each second of the window. */
function p99PerSecond(): number[] {
  const bySecond: number[][] = []
  latencies.forEach((ms, i) => {
    const second = sentSeconds[i]
    bySecond[second] ??= []
    bySecond[second].push(ms)
  })
  return Array.from(bySecond, (values) => {
    if (!values?.length) return Number.NaN
    values.sort((a, b) => a - b)
    return Math.round(values[Math.min(values.length - 1, Math.floor(0.99 * values.length))] * 10) / 10
  })
}

async function connectAll(command: Extract<GeneratorCommand, { cmd: 'connect' }>): Promise<void> {
  const started = performance.now()
  const todo: Array<{ client: Client; base: string }> = []
  for (const room of command.rooms) {
    for (let i = 0; i < command.clientsPerRoom; i++) {
      const client = new Client(
        command.dialect,
        room,
        todo.length,
        command.script,
        recordMarker,
        command.positions,
      )
      client.peers = command.clientsPerRoom - 1
      client.writer = i < (command.writersPerRoom ?? command.clientsPerRoom)
      todo.push({ client, base: command.bases[i % command.bases.length] })
    }
  }
  clients = todo.map(({ client }) => client)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const { client, base } = todo[next++]
      await client.connect(base, command.serverSyncs)
      if (command.presence) client.announce(`user ${client.doc.clientID}`)
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, todo.length) }, worker))
  process.send?.({ type: 'connected', clients: todo.length, ms: performance.now() - started })
}

/** Deterministic phase spread so that clients do not all send on the same tick. */
function phase(index: number, periodUs: number): number {
  return (((index * 2654435761) % 4294967296) / 4294967296) * periodUs
}

const SEED_TIMEOUT_MS = 60_000

async function seed(command: Extract<GeneratorCommand, { cmd: 'seed' }>): Promise<void> {
  const rooms = new Map<string, Client[]>()
  for (const client of clients) rooms.set(client.room, [...(rooms.get(client.room) ?? []), client])
  // Every member must come to hold the writer's last edit (servers may merge a burst into fewer messages).
  const targets = [...rooms.values()].map((members, i) => {
    const writer = members[0]
    for (let k = 0; k < (command.editsPerRoom[i] ?? 0); k++) writer.edit(Math.round(nowUs()))
    return { members, client: writer.doc.clientID, clock: Y.getState(writer.doc.store, writer.doc.clientID) }
  })
  const arrived = (): boolean =>
    targets.every(({ members, client, clock }) =>
      members.every((member) => {
        member.catchUp()
        return Y.getState(member.doc.store, client) >= clock
      }),
    )
  const deadline = performance.now() + SEED_TIMEOUT_MS
  while (!arrived()) {
    if (performance.now() > deadline) throw new Error('seeded edits did not reach every client within 60 s')
    await sleep(50)
  }
  process.send?.({ type: 'seeded' })
}

async function run(command: Extract<GeneratorCommand, { cmd: 'run' }>): Promise<void> {
  const editPeriodUs = command.editsPerSec > 0 ? 1e6 / command.editsPerSec : Number.POSITIVE_INFINITY
  const awarenessPeriodUs =
    command.awarenessPerSec > 0 ? 1e6 / command.awarenessPerSec : Number.POSITIVE_INFINITY
  const start = nowUs()
  for (const client of clients) {
    client.watching = !client.writer
    if (client.watching) client.catchUp()
  }
  clients.forEach((client, i) => {
    client.nextEditUs = start + phase(i, Math.min(editPeriodUs, 1e6))
    client.nextAwarenessUs = start + phase(i + 7, Math.min(awarenessPeriodUs, 1e6))
  })
  latencies = []
  sentSeconds = []
  windowStartUs = start + command.warmupMs * 1000
  windowEndUs = windowStartUs + command.measureMs * 1000
  let edits = 0
  let timedEdits = 0
  let awareness = 0
  let expected = 0
  let skipped = 0
  let cpuAtStart = process.cpuUsage()
  let marked = false
  const lagLimitUs = 200_000
  const loop = loopHistogram()

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = nowUs()
      if (!marked && now >= windowStartUs) {
        marked = true
        cpuAtStart = process.cpuUsage()
        loop.reset()
        process.send?.({ type: 'mark', phase: 'start' })
      }
      if (now >= windowEndUs) {
        clearInterval(timer)
        resolve()
        return
      }
      for (const client of clients) {
        if (!client.writer) client.nextEditUs = Number.POSITIVE_INFINITY
        if (client.nextEditUs <= now && now - client.nextEditUs > lagLimitUs) {
          const behind = Math.floor((now - client.nextEditUs) / editPeriodUs)
          if (client.nextEditUs >= windowStartUs) skipped += behind
          client.nextEditUs += behind * editPeriodUs
        }
        while (client.nextEditUs <= now) {
          // The marker carries whole microseconds; receivers test the same value against the window.
          const sentUs = Math.round(nowUs())
          const timed = client.edit(sentUs)
          if (sentUs >= windowStartUs && sentUs < windowEndUs) {
            edits++
            if (timed) {
              timedEdits++
              expected += client.peers
            }
          }
          client.nextEditUs += editPeriodUs
        }
        if (client.nextAwarenessUs <= now && now - client.nextAwarenessUs > lagLimitUs) {
          client.nextAwarenessUs = now
        }
        while (client.nextAwarenessUs <= now) {
          client.moveCursor()
          if (now >= windowStartUs && now < windowEndUs) awareness++
          client.nextAwarenessUs += awarenessPeriodUs
        }
      }
    }
    const timer = setInterval(tick, 2)
  })
  const cpu = process.cpuUsage(cpuAtStart)
  const writers = clients.filter((c) => c.writer).length
  const windowMs = (nowUs() - windowStartUs) / 1000
  loop.disable()
  process.send?.({ type: 'mark', phase: 'end' })
  const graceEnd = performance.now() + command.graceMs
  while (latencies.length < expected && performance.now() < graceEnd) await sleep(20)
  const sorted = Float64Array.from(latencies).sort()
  const pick = (q: number): number =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : Number.NaN
  const result: RunResult = {
    type: 'result',
    windowMs,
    edits,
    timedEdits,
    requestedEdits: (writers * command.editsPerSec * command.measureMs) / 1000,
    writers,
    awareness,
    expected,
    delivered: latencies.length,
    p50Ms: pick(0.5),
    p95Ms: pick(0.95),
    p99Ms: pick(0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    p99PerSecondMs: p99PerSecond(),
    generatorCpuPct: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    generatorKernelSharePct: cpu.user + cpu.system > 0 ? (cpu.system / (cpu.user + cpu.system)) * 100 : 0,
    generatorLoopP99Ms: loopDelayMs(loop.percentile(99)),
    generatorLoopMaxMs: loopDelayMs(loop.max),
    skipped,
    closedClients: clients.filter((c) => c.ws.readyState !== WebSocket.OPEN).length,
    textLength: medianRoomTextLength(),
  }
  windowStartUs = Number.POSITIVE_INFINITY
  process.send?.(result)
}

function medianRoomTextLength(): number {
  const byRoom = new Map<string, number>()
  for (const client of clients) {
    if (byRoom.has(client.room)) continue
    client.catchUp()
    byRoom.set(client.room, client.text.length)
  }
  const lengths = [...byRoom.values()].sort((a, b) => a - b)
  return lengths.length ? lengths[lengths.length >> 1] : 0
}

async function populate(command: Extract<GeneratorCommand, { cmd: 'populate' }>): Promise<void> {
  const client = new Client(command.dialect, command.room, 0, null, () => {})
  await client.connect(command.base)
  client.ws.send(syncFrame(command.dialect, command.room, YSync.update, Uint8Array.from(command.update)))
  // Let the server take it in (and, for stores that debounce, write it) before it is stopped.
  await sleep(1500)
  client.ws.close()
  process.send?.({ type: 'populated' })
}

async function coldLoad(command: Extract<GeneratorCommand, { cmd: 'coldLoad' }>): Promise<void> {
  const started = performance.now()
  const doc = new Y.Doc()
  const text = doc.getText('text')
  const ws = new WebSocket(roomUrl(command.dialect, command.base, command.room), { perMessageDeflate: false })
  const ms = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cold load timed out (${text.length} chars)`)),
      command.timeoutMs,
    )
    ws.on('open', () => {
      for (const f of openingFrames(command.dialect, command.room, Y.encodeStateVector(doc))) ws.send(f)
    })
    ws.on('error', reject)
    ws.on('message', (data: Buffer) => {
      const message = readReceived(command.dialect, data)
      if (message.kind !== 'sync') return
      if (message.syncType === YSync.step1) {
        ws.send(
          syncFrame(command.dialect, command.room, YSync.step2, Y.encodeStateAsUpdate(doc, message.payload)),
        )
        return
      }
      Y.applyUpdate(doc, message.payload)
      if (text.length >= command.expectedLength) {
        clearTimeout(timer)
        resolve(performance.now() - started)
      }
    })
  })
  ws.close()
  process.send?.({ type: 'loaded', ms })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function fail(err: unknown): void {
  process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) })
}

process.on('message', (command: GeneratorCommand) => {
  switch (command.cmd) {
    case 'connect':
      connectAll(command).catch(fail)
      break
    case 'seed':
      seed(command).catch(fail)
      break
    case 'run':
      run(command).catch(fail)
      break
    case 'texts':
      for (const client of clients) client.catchUp()
      process.send?.({ type: 'texts', texts: clients.map((client) => client.text.toString()) })
      break
    case 'populate':
      populate(command).catch(fail)
      break
    case 'coldLoad':
      coldLoad(command).catch(fail)
      break
    case 'close':
      for (const client of clients) client.ws?.terminate()
      process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
