/**
 * Raw peers for hostile-input tests and benchmarks: a bare `ws` socket that sends exactly the bytes
 * it is given and records everything it receives and how it was closed, and a bare TCP exchange for
 * HTTP requests no well-behaved client would send. No test-runner imports (the benchmark uses them).
 */
import { connect } from 'node:net'
import WebSocket from 'ws'

/** A raw WebSocket peer in one room: records every frame received and the close code. */
export class RawPeer {
  readonly ws: WebSocket
  /** Every binary frame received, in order. */
  readonly received: Uint8Array[] = []
  /** The close code once closed (1006 when the socket just dropped), else null. */
  closeCode: number | null = null
  closeReason = ''
  /** Resolves once the socket is open (rejects if the upgrade fails). */
  readonly opened: Promise<void>
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<number>

  /** Connects to `${url}/${path}` (path may carry a query, e.g. `room?tandem=1`). */
  constructor(url: string, path: string) {
    this.ws = new WebSocket(`${url}/${path}`, { perMessageDeflate: false })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade to /${path} refused with ${res.statusCode}`)),
      )
      this.ws.once('error', reject)
    })
    this.opened.catch(() => {})
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        resolve(code)
      })
    })
    this.ws.on('error', () => {})
    this.ws.on('message', (data: Buffer) => this.received.push(new Uint8Array(data)))
  }

  /** Sends one binary frame; resolves once it has left this process (at once if the socket is not open). */
  send(frame: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState !== WebSocket.OPEN) return resolve()
      this.ws.send(frame, () => resolve())
    })
  }

  /** The close code, or null if the socket is still open after `timeoutMs` (a guard, not a timing). */
  closedWithin(timeoutMs: number): Promise<number | null> {
    return Promise.race([
      this.closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs).unref()),
    ])
  }

  /** Received frames whose first byte (message type) is `type`. */
  ofType(type: number): Uint8Array[] {
    return this.received.filter((frame) => frame[0] === type)
  }

  /** Closes (normally) if still open. */
  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate()
    }
  }
}

/** What came back for one raw HTTP request. */
export interface RawHttpResult {
  /** Everything received (latin1), possibly empty. */
  response: string
  /** The status code of the first response line, or null if none arrived. */
  status: number | null
  /** A socket error (e.g. ECONNREFUSED when the server is gone), or null. */
  error: string | null
}

/**
 * Sends `request` over a fresh TCP connection to 127.0.0.1:`port` and collects the answer until the
 * server closes, a complete status line of a 101 arrives (the socket is then dropped), or
 * `timeoutMs` passes (a server waiting for the rest of a cut-short request).
 */
export function rawHttp(
  port: number,
  request: string | Uint8Array,
  timeoutMs = 2_000,
): Promise<RawHttpResult> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let response = ''
    let error: string | null = null
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(response)
      resolve({ response, status: match ? Number(match[1]) : null, error })
    }
    const timer = setTimeout(finish, timeoutMs)
    socket.on('connect', () => socket.write(typeof request === 'string' ? Buffer.from(request) : request))
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString('latin1')
      if (/^HTTP\/1\.[01] 101 /.test(response) && response.includes('\r\n\r\n')) finish()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message
      finish()
    })
    socket.on('close', finish)
  })
}
