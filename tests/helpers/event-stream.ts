/**
 * A Server-Sent Events client for tests: a real HTTP request (node:http) whose body is parsed as
 * the HTML standard's `text/event-stream` (fields, comments, blank-line dispatch, the last event
 * id kept across events), with what it received kept for assertions. It can stop reading (to play
 * a slow consumer) and reconnect with `Last-Event-ID` as an EventSource would.
 */
import http, { type IncomingMessage } from 'node:http'
import { applyDelta, type TextDelta } from '../../client/src/live/text-delta.ts'
import { type TestClient, waitFor } from './relay.ts'

export interface SseEvent {
  event: string
  /** The id field of this event, or null when it had none. */
  id: string | null
  data: string
}

/** A `change` event's data. */
export interface ChangeData {
  delta: TextDelta
  at: number
  author: { name: string } | null
}

export class EventStream {
  readonly events: SseEvent[] = []
  readonly comments: string[] = []
  retry: number | null = null
  /** The last event id seen (EventSource's "last event ID buffer"), '' before any. */
  lastEventId = ''
  ended = false
  private buffered = ''
  private pending: { event: string; id: string | null; data: string[] } = { event: '', id: null, data: [] }

  private constructor(
    readonly response: IncomingMessage,
    private readonly request: http.ClientRequest,
  ) {
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => this.feed(chunk))
    response.on('end', () => {
      this.ended = true
    })
    response.on('error', () => {
      this.ended = true
    })
    response.on('close', () => {
      this.ended = true
    })
  }

  /** Opens `path` on 127.0.0.1:`port`; resolves once the response head has arrived. */
  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<EventStream> {
    return new Promise((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (response) =>
        resolve(new EventStream(response, request)),
      )
      request.on('error', reject)
    })
  }

  get status(): number {
    return this.response.statusCode ?? 0
  }

  /** The events named `name`, in order. */
  named(name: string): SseEvent[] {
    return this.events.filter((event) => event.event === name)
  }

  /** The parsed data of every `change` event, with its id. */
  changes(): Array<ChangeData & { id: number }> {
    return this.named('change').map((event) => ({ ...JSON.parse(event.data), id: Number(event.id) }))
  }

  /**
   * The text the stream stands at: its last reset's text (or `from`, for a stream that resumed)
   * with every later change applied, in order.
   */
  text(from = ''): string {
    let text = from
    for (const event of this.events) {
      if (event.event === 'reset') text = JSON.parse(event.data).text
      // Throws when a delta does not fit the text: the stream lost track.
      if (event.event === 'change') text = applyDelta(text, JSON.parse(event.data).delta)
    }
    return text
  }

  /** The ids of the events that carried one (changes and resets), in the order received. */
  ids(): number[] {
    return this.events.filter((event) => event.id !== null).map((event) => Number(event.id))
  }

  /** Waits until `condition` holds of this stream. */
  async until(condition: (stream: EventStream) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(() => condition(this), what, timeoutMs)
  }

  /** Stops reading: the server's writes pile up in its buffers. */
  pause(): void {
    this.response.pause()
  }

  resume(): void {
    this.response.resume()
  }

  /** Drops the connection. */
  close(): void {
    this.request.destroy()
    this.response.destroy()
  }

  private feed(chunk: string): void {
    this.buffered += chunk
    const lines = this.buffered.split(/\r\n|\r|\n/)
    this.buffered = lines.pop()!
    for (const line of lines) this.line(line)
  }

  private line(line: string): void {
    if (line === '') {
      const { event, id, data } = this.pending
      this.pending = { event: '', id: null, data: [] }
      if (data.length === 0 && id === null) return
      if (id !== null) this.lastEventId = id
      this.events.push({ event: event || 'message', id, data: data.join('\n') })
      return
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim())
      return
    }
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.pending.event = value
    else if (field === 'data') this.pending.data.push(value)
    else if (field === 'id') this.pending.id = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
  }
}

/**
 * Makes `count` edits to `client`'s room text ('codemirror', the one the feed follows) at places
 * drawn from a sequence fixed by `seed`: inserts with astral characters, some deletes.
 */
export function typeEdits(client: TestClient, count: number, seed = 1): void {
  const text = client.doc.getText('codemirror')
  let state = seed
  const next = () => {
    state = (state * 48271) % 2147483647
    return state
  }
  for (let i = 0; i < count; i++) {
    // Whole characters only: an index between a surrogate pair's halves is not a place to type.
    const at = (n: number) => {
      const index = next() % n
      return /[\uDC00-\uDFFF]/.test(text.toString()[index] ?? '') ? index - 1 : index
    }
    if (text.length > 6 && next() % 4 === 0) {
      const index = at(text.length - 3)
      const end = /[\uD800-\uDBFF]/.test(text.toString()[index + 1] ?? '') ? index + 3 : index + 2
      text.delete(index, end - index)
    } else text.insert(at(text.length + 1), `${i % 10}😀`)
  }
}

/**
 * Returns `openFeed(port, room, headers?, query?)`: opens `room`'s change feed, closed by `cleanups`
 * (from cleanupAfterEach) after the test.
 */
export function feedOpener(cleanups: Array<() => unknown>) {
  return async (port: number, room: string, headers: Record<string, string> = {}, query = '') => {
    const stream = await EventStream.open(port, `/api/rooms/${room}/events${query}`, headers)
    cleanups.push(() => stream.close())
    return stream
  }
}
