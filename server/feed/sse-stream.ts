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
 * the connection limits count (see http/document-api.ts).
 */
import type { ServerResponse } from 'node:http'

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
  private readonly closeListeners = new Set<(reason: StreamEnd) => void>()

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferBytes: number,
  ) {
    res.once('close', () => this.ended('client'))
    // A write to a socket the peer reset: the 'close' that follows ends the stream.
    res.on('error', () => this.ended('client'))
  }

  /** Writes the head and the `retry:` field. */
  start(): void {
    this.res.writeHead(200, SSE_HEADERS)
    this.res.write(`retry: ${RETRY_MS}\n\n`)
  }

  /**
   * Calls `listener` once with the reason when the stream ends (at once if it already has).
   * Returns the unsubscribe.
   */
  onClose(listener: (reason: StreamEnd) => void): () => void {
    if (this.closed) listener(this.endedBy!)
    else this.closeListeners.add(listener)
    return () => this.closeListeners.delete(listener)
  }

  /** Bytes written and not yet taken by the client. */
  get backlog(): number {
    return this.res.writableLength
  }

  /**
   * Writes `chunk` (whole events or comments); true when written. False when the stream is closed,
   * or more than the bound already waits: then it is closed as `slow`.
   */
  write(chunk: string): boolean {
    if (this.closed) return false
    if (this.res.writableLength > this.maxBufferBytes) {
      this.close('slow')
      return false
    }
    this.res.write(chunk)
    return true
  }

  /** True while more than half the bound waits: a writer that can wait should (see `drained`). */
  get full(): boolean {
    return this.res.writableLength > this.maxBufferBytes / 2
  }

  /**
   * Resolves once the client has taken what waits (Node's 'drain'), or the stream has closed; at
   * once when no 'drain' is due (less than the socket's high-water mark waits).
   */
  drained(): Promise<void> {
    if (this.closed || !this.full || !this.res.writableNeedDrain) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done)
        forget()
        resolve()
      }
      this.res.on('drain', done)
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
    if (reason === 'shutdown') this.res.end()
    else this.res.destroy()
  }

  private ended(reason: StreamEnd): void {
    if (this.closed) return
    this.closed = true
    this.endedBy = reason
    const listeners = [...this.closeListeners]
    this.closeListeners.clear()
    for (const listener of listeners) listener(reason)
  }
}
