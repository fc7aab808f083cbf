/**
 * The load generator: a child process (forked by the harness, pinned to its own core) that holds
 * every client socket of a run. Each client owns a Y.Doc for its room and sends real Yjs updates
 * (typing at the end of its own text) whose inserted text carries a send-time marker; receivers do
 * not apply what they get, they only scan the relayed bytes for markers. Commands arrive over IPC:
 *
 *   connect  -> open and sync the clients of every room    -> {type: 'connected'}
 *   run      -> paced edits + awareness, warm-up, measured window (announced with 'mark' events)
 *               and a grace period for stragglers         -> {type: 'result'}
 *   populate -> push one big update into a room            -> {type: 'populated'}
 *   coldLoad -> time until a new client holds a document  -> {type: 'loaded'}
 *   close    -> close every socket and exit
 *
 * Marker: '@@' + 7 base-36 digits of the send time in microseconds since this process started + 3
 * base-36 digits of the sending client's index (servers that echo an update to its sender, as the
 * y-websocket servers do, must not count as delivering it).
 */
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
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
      base: string
      dialect: Dialect
      rooms: string[]
      clientsPerRoom: number
      presence: boolean
      /** False for a server that answers no sync request (the raw relay): open counts as synced. */
      serverSyncs: boolean
    }
  | {
      cmd: 'run'
      editsPerSec: number
      awarenessPerSec: number
      warmupMs: number
      measureMs: number
      graceMs: number
    }
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
  /** Document updates sent in the window. */
  edits: number
  /** Awareness updates sent in the window. */
  awareness: number
  /** Marker deliveries expected (edits x other members) and seen. */
  expected: number
  delivered: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  generatorCpuPct: number
  /** Sends the pacer could not make on time (it skipped ahead). */
  skipped: number
  /** Client sockets no longer open at the end of the run (closed by the server or failed). */
  closedClients: number
}

const MARK = Buffer.from('@@')
const MARK_TIME_DIGITS = 7
const MARK_CLIENT_DIGITS = 3
const MARK_DIGITS = MARK_TIME_DIGITS + MARK_CLIENT_DIGITS
const CONNECT_CONCURRENCY = 100
const CONNECT_TIMEOUT_MS = 30_000

const nowUs = (): number => performance.now() * 1000

class Client {
  readonly doc = new Y.Doc()
  readonly text = this.doc.getText('text')
  readonly awareness = new awarenessProtocol.Awareness(this.doc)
  private pendingUpdate: Uint8Array | null = null
  private pendingAwareness: Uint8Array | null = null
  ws!: WebSocket
  synced = false
  nextEditUs = 0
  nextAwarenessUs = 0
  peers = 0

  /** This client's index as it appears in its markers. */
  private readonly tag: string

  constructor(
    readonly dialect: Dialect,
    readonly room: string,
    index: number,
    readonly onMarker: (sentUs: number) => void,
  ) {
    this.tag = index.toString(36).padStart(MARK_CLIENT_DIGITS, '0').slice(-MARK_CLIENT_DIGITS)
    this.doc.on('update', (update: Uint8Array) => {
      this.pendingUpdate = update
    })
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
        if (this.synced) {
          this.scan(data)
          return
        }
        const message = readReceived(this.dialect, data)
        if (message.kind !== 'sync') return
        if (message.syncType === YSync.step1) {
          const reply = Y.encodeStateAsUpdate(this.doc, message.payload)
          this.ws.send(syncFrame(this.dialect, this.room, YSync.step2, reply))
        } else if (message.syncType === YSync.step2) {
          this.synced = true
          clearTimeout(timer)
          resolve()
        }
      })
    })
  }

  /** Calls onMarker for every send-time marker in a relayed frame. */
  private scan(data: Buffer): void {
    let at = data.indexOf(MARK)
    while (at !== -1 && at + 2 + MARK_DIGITS <= data.length) {
      const tag = data.toString('latin1', at + 2 + MARK_TIME_DIGITS, at + 2 + MARK_DIGITS)
      if (tag !== this.tag) {
        const sent = Number.parseInt(data.toString('latin1', at + 2, at + 2 + MARK_TIME_DIGITS), 36)
        if (Number.isFinite(sent)) this.onMarker(sent)
      }
      at = data.indexOf(MARK, at + 2 + MARK_DIGITS)
    }
  }

  /** Types a marker at the end of this client's text and sends the resulting update. */
  edit(sentUs: number): void {
    this.text.insert(this.text.length, `@@${sentUs.toString(36).padStart(MARK_TIME_DIGITS, '0')}${this.tag}`)
    const update = this.pendingUpdate
    this.pendingUpdate = null
    if (update && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(syncFrame(this.dialect, this.room, YSync.update, update))
    }
  }

  /** Moves this client's cursor and sends the awareness update. */
  moveCursor(): void {
    const at = this.text.length
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

function recordMarker(sentUs: number): void {
  if (sentUs >= windowStartUs && sentUs < windowEndUs) latencies.push((nowUs() - sentUs) / 1000)
}

async function connectAll(command: Extract<GeneratorCommand, { cmd: 'connect' }>): Promise<void> {
  const started = performance.now()
  const todo: Client[] = []
  for (const room of command.rooms) {
    for (let i = 0; i < command.clientsPerRoom; i++) {
      const client = new Client(command.dialect, room, todo.length, recordMarker)
      client.peers = command.clientsPerRoom - 1
      todo.push(client)
    }
  }
  clients = todo
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const client = todo[next++]
      await client.connect(command.base, command.serverSyncs)
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

async function run(command: Extract<GeneratorCommand, { cmd: 'run' }>): Promise<void> {
  const editPeriodUs = command.editsPerSec > 0 ? 1e6 / command.editsPerSec : Number.POSITIVE_INFINITY
  const awarenessPeriodUs =
    command.awarenessPerSec > 0 ? 1e6 / command.awarenessPerSec : Number.POSITIVE_INFINITY
  const start = nowUs()
  clients.forEach((client, i) => {
    client.nextEditUs = start + phase(i, Math.min(editPeriodUs, 1e6))
    client.nextAwarenessUs = start + phase(i + 7, Math.min(awarenessPeriodUs, 1e6))
  })
  latencies = []
  windowStartUs = start + command.warmupMs * 1000
  windowEndUs = windowStartUs + command.measureMs * 1000
  let edits = 0
  let awareness = 0
  let expected = 0
  let skipped = 0
  let cpuAtStart = process.cpuUsage()
  let marked = false
  const lagLimitUs = 200_000

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = nowUs()
      if (!marked && now >= windowStartUs) {
        marked = true
        cpuAtStart = process.cpuUsage()
        process.send?.({ type: 'mark', phase: 'start' })
      }
      if (now >= windowEndUs) {
        clearInterval(timer)
        resolve()
        return
      }
      for (const client of clients) {
        if (client.nextEditUs <= now && now - client.nextEditUs > lagLimitUs) {
          const behind = Math.floor((now - client.nextEditUs) / editPeriodUs)
          skipped += behind
          client.nextEditUs += behind * editPeriodUs
        }
        while (client.nextEditUs <= now) {
          // The marker carries whole microseconds; receivers test the same value against the window.
          const sentUs = Math.round(nowUs())
          client.edit(sentUs)
          if (sentUs >= windowStartUs && sentUs < windowEndUs) {
            edits++
            expected += client.peers
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
  const windowMs = (nowUs() - windowStartUs) / 1000
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
    awareness,
    expected,
    delivered: latencies.length,
    p50Ms: pick(0.5),
    p95Ms: pick(0.95),
    p99Ms: pick(0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    generatorCpuPct: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    skipped,
    closedClients: clients.filter((c) => c.ws.readyState !== WebSocket.OPEN).length,
  }
  windowStartUs = Number.POSITIVE_INFINITY
  process.send?.(result)
}

async function populate(command: Extract<GeneratorCommand, { cmd: 'populate' }>): Promise<void> {
  const client = new Client(command.dialect, command.room, 0, () => {})
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
    case 'run':
      run(command).catch(fail)
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
