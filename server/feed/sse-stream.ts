/**
 * One Server-Sent Events stream (`text/event-stream`, the HTML standard's `EventSource`): the
 * response head, then `retry:`, then whatever the feed writes, each piece an already-encoded string
 * (feed-events.ts), so one string can go to every subscriber of a room.
 *
 * Bounded: a write is refused, and the stream closed (reason `slow`), when more than
 * `maxBufferBytes` already wait to be taken by the client (Node's and the socket's buffers, not
 * the kernel's). The check comes before the write, so one event larger than the bound still goes
 * out to a client that reads; a client that stops reading is closed at its next event or
 * keep-alive, and its EventSource reconnects and resumes from the last id it received.
 *
 * The response carries `Connection: close`: the socket lives as long as the stream, which is what
 * the connection limits count (see http/document-api.ts), and the body ends when the socket closes
 * (no chunked framing). Once the head is sent the stream takes the socket over from Node's HTTP
 * server (socket-handoff.ts) and writes events to it directly, so Node's request, response and
 * parser do not live as long as the stream; where that cannot be done it writes to the response.
 */
import type { ServerResponse } from 'node:http'
import type { Writable } from 'node:stream'
import { responseHead, takeSocket } from './socket-handoff.ts'

/** Why a stream ended. */
export type StreamEnd = 'client' | 'slow' | 'shutdown' | 'access' | 'error'

/** The head of every stream: no caching, and no buffering by proxies (nginx reads X-Accel-Buffering). */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
  connection: 'close',
} as const

/** How long an EventSource waits before reconnecting, in ms (the stream's first field). */
export const RETRY_MS = 2_000

let nextId = 1

export class SseStream {
  /** For log lines. */
  readonly id = nextId++
  /** Set once the stream has ended, for whatever reason. */
  closed = false
  /** Why it ended (null while open). */
  endedBy: StreamEnd | null = null
  /** Called once when the stream ends (an array: a Set costs an idle stream ~200 bytes more). */
  private closeListeners: Array<(reason: StreamEnd) => void> = []
  /** Where events go: the response until started, then its socket once taken over. */
  private out: Writable
  /** True once the socket is taken over (no response to end). */
  private raw = false

  constructor(
    res: ServerResponse,
    private readonly maxBufferBytes: number,
  ) {
    this.out = res
    this.listen(res)
  }

  /** Writes the head and the `retry:` field, taking the socket over when it can. */
  start(): void {
    const res = this.out as ServerResponse
    const retry = `retry: ${RETRY_MS}\n\n`
    const socket = takeSocket(res, responseHead(res, SSE_HEADERS) + retry)
    if (!socket) {
      res.writeHead(200, SSE_HEADERS)
      res.write(retry)
      return
    }
    this.out = socket
    this.raw = true
    this.listen(socket)
  }

  /**
   * Calls `listener` once with the reason when the stream ends (at once if it already has).
   * Returns the unsubscribe.
   */
  onClose(listener: (reason: StreamEnd) => void): () => void {
    if (this.closed) listener(this.endedBy!)
    // Copied rather than pushed: an array that grew by push keeps ~17 slots for its 2 listeners.
    else this.closeListeners = [...this.closeListeners, listener]
    return () => {
      this.closeListeners = this.closeListeners.filter((one) => one !== listener)
    }
  }

  /** Bytes written and not yet taken by the client. */
  get backlog(): number {
    return this.out.writableLength
  }

  /**
   * Writes `chunk` (whole events or comments); true when written. False when the stream is closed,
   * or more than the bound already waits: then it is closed as `slow`.
   */
  write(chunk: string): boolean {
    if (this.closed) return false
    if (this.out.writableLength > this.maxBufferBytes) {
      this.close('slow')
      return false
    }
    this.out.write(chunk)
    return true
  }

  /** True while more than half the bound waits: a writer that can wait should (see `drained`). */
  get full(): boolean {
    return this.out.writableLength > this.maxBufferBytes / 2
  }

  /**
   * Resolves once the client has taken what waits (Node's 'drain'), or the stream has closed; at
   * once when no 'drain' is due (less than the socket's high-water mark waits).
   */
  drained(): Promise<void> {
    if (this.closed || !this.full || !this.out.writableNeedDrain) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done)
        forget()
        resolve()
      }
      this.out.on('drain', done)
      const forget = this.onClose(done)
    })
  }

  /**
   * Ends the stream: `shutdown` finishes the response (the client reconnects once it has read it),
   * any other reason drops the connection at once (what waits is not sent: the client resumes
   * from the last id it received).
   */
  close(reason: StreamEnd): void {
    if (this.closed) return
    this.ended(reason)
    if (reason !== 'shutdown') this.out.destroy()
    else if (!this.raw) this.out.end()
    else {
      // As Node ends a `Connection: close` response: the socket goes once what waits is sent.
      const socket = this.out
      socket.once('finish', () => socket.destroy())
      socket.end()
    }
  }

  private listen(out: Writable): void {
    // 'close' comes once; `on` spares the wrapper `once` would keep for as long as the stream lives.
    // A write to a socket the peer reset errors, and the 'close' that follows ends it anyway.
    const end = () => this.ended('client')
    out.on('close', end)
    out.on('error', end)
  }

  private ended(reason: StreamEnd): void {
    if (this.closed) return
    this.closed = true
    this.endedBy = reason
    const listeners = this.closeListeners
    this.closeListeners = []
    for (const listener of listeners) listener(reason)
  }
}
