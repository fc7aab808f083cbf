/**
 * The change-feed benchmark's clients (bench/feed.ts), all in the generator process:
 *
 * - `SseSubscriber`: a raw `GET …/events` over node:http (no agent), counting `event: change`
 *   events and remembering the last id; a resume sends `Last-Event-ID`.
 * - `WsClient`: a stock y-websocket client's wire behaviour with `ws` (default options, so it offers
 *   permessage-deflate as the stock client does): sync step 1 with an empty state vector, answers the
 *   server's step 1, counts the updates it receives.
 * - `postText`: the writer, `POST …/text` on a keep-alive agent, resolving with the change id.
 */
import { Agent, request } from 'node:http'
import WebSocket from 'ws'
import { openingFrames, readReceived, syncFrame, YSync } from '../relay/wire.ts'

export const HOST = '127.0.0.1'

/** A count of arrivals, and promises resolved once it reaches a number. */
class Arrivals {
  count = 0
  private waiters: { count: number; resolve: () => void }[] = []

  add(): void {
    this.count++
    for (const waiter of this.waiters) if (this.count >= waiter.count) waiter.resolve()
    if (this.waiters.length > 0) this.waiters = this.waiters.filter((w) => this.count < w.count)
  }

  reached(count: number): Promise<void> {
    if (this.count >= count) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ count, resolve }))
  }
}

export class SseSubscriber {
  private readonly changes = new Arrivals()
  lastId = 0
  /** Resolves once the head and the `retry:` field have arrived. */
  readonly ready: Promise<void>
  private tail = ''
  private destroy: () => void = () => {}

  constructor(port: number, room: string, lastEventId: number | null = null) {
    this.ready = new Promise((resolve, reject) => {
      const req = request({
        host: HOST,
        port,
        path: `/api/rooms/${room}/events`,
        agent: false,
        headers: lastEventId === null ? {} : { 'last-event-id': String(lastEventId) },
      })
      req.once('error', reject)
      req.once('response', (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`events on ${room}: HTTP ${res.statusCode}`))
          res.resume()
          return
        }
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          this.read(chunk)
          resolve()
        })
        res.on('error', () => {})
      })
      req.end()
      this.destroy = () => req.destroy()
    })
  }

  /** Resolves once `count` changes have arrived in all. */
  received(count: number): Promise<void> {
    return this.changes.reached(count)
  }

  close(): void {
    this.destroy()
  }

  private read(chunk: string): void {
    const events = (this.tail + chunk).split('\n\n')
    this.tail = events.pop() ?? ''
    for (const event of events) {
      if (!event.startsWith('event: change\n')) continue
      const id = /\nid: (\d+)\n/.exec(event)
      if (id) this.lastId = Number(id[1])
      this.changes.add()
    }
  }
}

export class WsClient {
  readonly ready: Promise<void>
  private readonly ws: WebSocket
  private readonly updates = new Arrivals()

  constructor(port: number, room: string) {
    this.ws = new WebSocket(`ws://${HOST}:${port}/${room}`)
    this.ready = new Promise((resolve, reject) => {
      this.ws.once('error', reject)
      this.ws.once('open', () => {
        for (const frame of openingFrames('y', room, new Uint8Array([0]))) this.ws.send(frame)
      })
      this.ws.on('message', (data: Buffer) => {
        const message = readReceived('y', data)
        if (message.kind !== 'sync') return
        if (message.syncType === YSync.step1) {
          // Our (empty) document's answer to the server's step 1; synced from here on.
          this.ws.send(syncFrame('y', room, YSync.step2, new Uint8Array([0, 0])))
          resolve()
        } else if (message.syncType === YSync.update) this.updates.add()
      })
    })
    this.ws.on('error', () => {})
  }

  /** Resolves once `count` updates have arrived in all. */
  received(count: number): Promise<void> {
    return this.updates.reached(count)
  }

  close(): void {
    this.ws.terminate()
  }
}

const writerAgent = new Agent({ keepAlive: true, maxSockets: 1 })

/** `POST /api/rooms/<room>/text`; resolves with the change id once the server answers. */
export function postText(
  port: number,
  room: string,
  edit: { index: number; delete: number; insert: string },
): Promise<number> {
  const body = JSON.stringify(edit)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: HOST,
        port,
        method: 'POST',
        path: `/api/rooms/${room}/text`,
        agent: writerAgent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => {
          if (res.statusCode !== 200)
            reject(new Error(`POST text on ${room}: HTTP ${res.statusCode} ${text}`))
          else resolve((JSON.parse(text) as { changeId: number }).changeId)
        })
      },
    )
    req.once('error', reject)
    req.end(body)
  })
}

/** Opens `count` clients made by `open(i)`, at most `parallel` connecting at a time. */
export async function openAll<C extends { ready: Promise<void> }>(
  count: number,
  open: (i: number) => C,
  parallel = 200,
): Promise<C[]> {
  const clients: C[] = []
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, j) => open(start + j))
    await Promise.all(batch.map((c) => c.ready))
    clients.push(...batch)
  }
  return clients
}
