/**
 * One client's WebSocket in one room. Frames that arrive while the room loads are buffered and
 * handled in order once it is ready; after that each frame is handled as it arrives. Every frame
 * goes through `decodeIncoming` (validation), the connection's own bounds (awareness message size
 * and rate) and `authorize` before it touches the room. A protocol violation closes this connection
 * only, with the PeerError's close code and a log line. A peer that stops reading is dropped once
 * its unsent output passes `maxBufferedBytes`, so its backlog cannot grow without limit; one that
 * sends no sync message within `syncDeadlineMs` is closed with 4508 (the connection owns that timer,
 * as Hocuspocus' ClientConnection owns its timeout).
 */
import type { Duplex } from 'node:stream'
import type { Logger } from 'pino'
import type WebSocket from 'ws'
import { type AccessLevel, CloseCode, encodeAccess, MessageType } from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'
import { isEmptyUpdate } from '../admission/update-shape.ts'
import type { TokenHolder } from '../authorship/identity.ts'
import type { ServerConfig } from '../config/config.ts'
import { TEXT_WALK_BURST, TEXT_WALK_PER_SECOND } from '../limits/text-walk.ts'
import { TokenBucket } from '../limits/token-bucket.ts'
import type { RelayMetrics } from '../ops/metrics.ts'
import type { Room, RoomMember } from '../rooms/room.ts'
import { itemsWalked } from '../rooms/text-deltas.ts'
import { AwarenessIdSet } from './awareness-ids.ts'
import { decodeIncoming, type IncomingMessage } from './incoming.ts'
import { type FrameLimits, frameTooBigRefusal, isFrameTooBig } from './socket-server.ts'

/** What a connection may do in its room: view, edit, or edit and administer (see AccessLevel). */
export type Access = AccessLevel

let nextConnectionId = 1

/**
 * Sockets with writes held back (corked) in this event-loop iteration. They are uncorked together
 * in its check phase (`setImmediate`), after every socket that was readable has been handled, so
 * everything sent to one peer in one iteration (the messages of all the rooms' senders, a commit
 * batch's relays) leaves in a single write instead of one syscall per message. On loopback each
 * write costs about as much as handling the message that caused it.
 */
const corked: Connection[] = []

/**
 * Uncorks every corked socket now. The check phase does it by itself; a commit calls it once its
 * relays are queued (rooms/commit-queue.ts `afterFollowUps`), so they leave in this iteration
 * instead of waiting behind the next one's reads.
 */
export function uncorkAll(): void {
  for (const connection of corked.splice(0)) connection.uncork()
}

/**
 * The options a connection applies, its slice of the server's config (each documented there):
 * backlog bound, awareness size and rate, document message and byte rates, sync deadline, and the
 * frame limit it names when `ws` refuses a frame (socket-server.ts).
 */
export type ConnectionLimits = FrameLimits &
  Pick<
    ServerConfig,
    | 'maxBufferedBytes'
    | 'maxAwarenessMessageBytes'
    | 'awarenessMessagesPerSecond'
    | 'awarenessBurst'
    | 'documentMessagesPerSecond'
    | 'documentMessageBurst'
    | 'documentBytesPerSecond'
    | 'documentByteBurst'
    | 'syncDeadlineMs'
  >

/**
 * What every connection of a server shares (one object for all of them: a copy per connection
 * would cost each idle one its own object and closures).
 */
export interface ConnectionContext {
  log: Logger
  limits: ConnectionLimits
  /** Told about a message whose handling took long (for the stall monitor). */
  noteWork?: (kind: string, ms: number, detail?: string) => void
  /** Counts messages in and out and the close code (see metrics.ts). */
  metrics?: RelayMetrics
  /** Called once when the socket has closed, with the room it had joined (if any). */
  onClose: (connection: Connection, room: Room | null) => void
}

export interface ConnectionOptions {
  ws: WebSocket
  /** The upgraded TCP socket under `ws` (corked to batch sends; see `corked`). */
  socket: Duplex
  roomName: string
  /** Opted in to Tandem's extensions (`?tandem=1`). */
  wantsSaved: boolean
  access: Access
  /** The token it was admitted with (null: none): who it writes as (authorship/identity.ts). */
  token?: TokenHolder | null
  /** Shared by the server's connections. */
  context: ConnectionContext
}

/**
 * Where a socket keeps its connection, so that the socket listeners below are one set of functions
 * for every socket (called with the socket as `this`) instead of four closures per connection.
 */
const CONNECTION = Symbol('connection')
type Carrier = WebSocket & { [CONNECTION]?: Connection }

function connectionOf(ws: WebSocket): Connection {
  return (ws as Carrier)[CONNECTION] as Connection
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  connectionOf(this).receive(data, isBinary)
}

function onPong(this: WebSocket): void {
  connectionOf(this).alive = true
}

function onError(this: WebSocket, err: Error): void {
  connectionOf(this).socketError(err)
}

function onClose(this: WebSocket, code: number): void {
  connectionOf(this).handleClose(code)
}

/** How often the connections holding rate-limit buckets forget the ones full again. */
const BUCKET_SWEEP_MS = 1_000
/** Connections holding a rate-limit bucket (see `Connection.forgetFullBuckets`). */
const holdingBuckets = new Set<Connection>()
/** Runs while `holdingBuckets` has any; it does not keep the process alive. */
let bucketSweep: NodeJS.Timeout | null = null

/**
 * Forgets the full buckets of every connection holding any (run every BUCKET_SWEEP_MS; exported so
 * that tests can run a sweep when they choose).
 */
export function sweepBuckets(): void {
  for (const connection of holdingBuckets)
    if (connection.forgetFullBuckets()) holdingBuckets.delete(connection)
  if (holdingBuckets.size === 0 && bucketSweep) {
    clearInterval(bucketSweep)
    bucketSweep = null
  }
}

/** How many connections (of every server in this process) hold a rate-limit bucket now. */
export function connectionsHoldingBuckets(): number {
  return holdingBuckets.size
}

function holdsBuckets(connection: Connection): void {
  holdingBuckets.add(connection)
  if (!bucketSweep) {
    bucketSweep = setInterval(sweepBuckets, BUCKET_SWEEP_MS)
    bucketSweep.unref()
  }
}

export class Connection implements RoomMember {
  readonly id = nextConnectionId++
  readonly awarenessIds = new AwarenessIdSet()
  private room: Room | null = null
  private buffered: Uint8Array[] | null = []
  private bufferedInBytes = 0
  /** Answered the last heartbeat ping. */
  alive = true
  closed = false
  /** Closes the connection unless it sends a sync message first; null once one came or it closed. */
  private syncDeadline: NodeJS.Timeout | null
  private isCorked = false
  readonly ws: WebSocket
  readonly roomName: string
  readonly wantsSaved: boolean
  readonly token: TokenHolder | null
  /** What this connection may do now; changed by `setAccess`. */
  access: Access
  private readonly socket: Duplex
  private readonly context: ConnectionContext
  /*
   * The rate limits' buckets, each made when a message it limits arrives and forgotten once full
   * again (`forgetFullBuckets`, swept every BUCKET_SWEEP_MS): a full bucket is a fresh one, so a
   * quiet connection holds none and every limit holds as if it kept them all.
   */
  private awarenessRate: TokenBucket | null = null
  /** Sync step 1 asks for an encoding of the document: a stock client sends one per connection. */
  private syncRequestRate: TokenBucket | null = null
  private documentRate: TokenBucket | null = null
  private textWalkRate: TokenBucket | null = null
  /** The walk budget ran out: updates that follow (until the socket closes) are refused unapplied. */
  private walkOverdrawn = false
  private documentByteRate: TokenBucket | null = null

  constructor(options: ConnectionOptions) {
    const { ws, context } = options
    this.ws = ws
    this.socket = options.socket
    this.roomName = options.roomName
    this.wantsSaved = options.wantsSaved
    this.token = options.token ?? null
    this.access = options.access
    this.context = context
    this.syncDeadline = setTimeout(Connection.missedSyncDeadline, context.limits.syncDeadlineMs, this)
    this.syncDeadline.unref()
    ;(ws as Carrier)[CONNECTION] = this
    ws.on('message', onMessage)
    ws.on('pong', onPong)
    ws.on('error', onError)
    ws.on('close', onClose)
  }

  private get log(): Logger {
    return this.context.log
  }

  private get limits(): ConnectionLimits {
    return this.context.limits
  }

  /** Forgets the rate-limit buckets that are full again (see the fields); true when none is left. */
  forgetFullBuckets(): boolean {
    if (this.awarenessRate?.full) this.awarenessRate = null
    if (this.syncRequestRate?.full) this.syncRequestRate = null
    if (this.documentRate?.full) this.documentRate = null
    if (this.textWalkRate?.full) this.textWalkRate = null
    if (this.documentByteRate?.full) this.documentByteRate = null
    return (
      this.closed ||
      (!this.awarenessRate &&
        !this.syncRequestRate &&
        !this.documentRate &&
        !this.textWalkRate &&
        !this.documentByteRate)
    )
  }

  /** A fresh bucket, this connection swept until it has none left. */
  private bucket(ratePerSecond: number, burst: number): TokenBucket {
    holdsBuckets(this)
    return new TokenBucket(ratePerSecond, burst)
  }

  /** Joins the loaded room and handles the frames buffered meanwhile. */
  attach(room: Room): void {
    if (this.closed) return
    this.room = room
    room.join(this)
    if (this.wantsSaved) this.send(encodeAccess(this.access))
    this.drain()
  }

  /** Handles the frames buffered while paused, in order, until done or paused again. */
  private drain(): void {
    const frames = this.buffered ?? []
    this.buffered = null
    for (let i = 0; i < frames.length; i++) {
      if (this.closed) return
      this.handle(frames[i])
      // That frame started sliced work: the rest waits behind what arrives meanwhile.
      if (this.isPaused()) {
        this.buffered = [...frames.slice(i + 1), ...(this.buffered ?? [])]
        return
      }
    }
  }

  private isPaused(): boolean {
    return this.buffered !== null
  }

  /**
   * Queues `message` for this peer. The first send of each iteration checks what is still unsent
   * from earlier ones: past `maxBufferedBytes` the peer is not reading, and it is dropped. (Within
   * an iteration the backlog may grow by what it relays, which the iteration's own input bounds.)
   */
  send(message: Uint8Array): void {
    if (this.ws.readyState !== 1) return
    if (!this.isCorked) {
      if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
        this.dropSlowReader()
        return
      }
      this.isCorked = true
      this.socket.cork()
      if (corked.push(this) === 1) setImmediate(uncorkAll)
    }
    this.context.metrics?.sent(message)
    this.ws.send(message)
  }

  /** Total bytes queued for this peer and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount
  }

  private dropSlowReader(): void {
    this.log.warn(
      {
        conn: this.id,
        room: this.roomName,
        bufferedBytes: this.ws.bufferedAmount,
        code: CloseCode.slowReader,
      },
      'closing connection: slowReader: the peer is not reading what it is sent',
    )
    // A close frame would queue behind the backlog it is not reading: drop the socket and its buffers.
    this.ws.terminate()
  }

  /** Lets the writes held back since the last tick go out (one write for all of them). */
  uncork(): void {
    this.isCorked = false
    this.socket.uncork()
  }

  /**
   * Changes what this connection may do from its next message on; a client that opted in to the
   * extensions is told with an `access` message (once it has joined: `attach` sends the first).
   */
  setAccess(access: Access): void {
    if (access === this.access) return
    this.access = access
    if (this.room && this.wantsSaved && !this.closed) this.send(encodeAccess(access))
  }

  /** Closes with `code` and a short reason (at most 123 bytes on the wire). */
  close(code: number, reason: string): void {
    if (this.closed) return
    this.ws.close(code, reason.slice(0, 120))
  }

  /**
   * Closes with `code` and resolves once the socket has closed; a peer that does not answer the
   * close frame within `graceMs` is terminated (for shutdown).
   */
  closeWithin(code: number, reason: string, graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve()
      this.ws.once('close', () => resolve())
      this.close(code, reason)
      setTimeout(() => {
        this.ws.terminate()
        resolve()
      }, graceMs).unref()
    })
  }

  private static missedSyncDeadline(connection: Connection): void {
    connection.missedSync()
  }

  private missedSync(): void {
    this.syncDeadline = null
    if (this.closed) return
    this.fail(new PeerError(CloseCode.syncTimeout, `no sync message within ${this.limits.syncDeadlineMs} ms`))
  }

  /** The socket's 'error' (`onError`). */
  socketError(err: Error): void {
    // ws has already closed the socket (as the quota refuses: see socket-server.ts); log and count it.
    if (isFrameTooBig(err)) {
      this.logRefusal(frameTooBigRefusal(this.limits))
      this.context.metrics?.updateRefused('quota')
      return
    }
    this.log.warn({ conn: this.id, room: this.roomName, err }, 'socket error')
  }

  /** A frame from the socket (`onMessage`). */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    if (!isBinary) {
      this.fail(new PeerError(CloseCode.textFrame, 'text frames are not part of the protocol'))
      return
    }
    if (this.syncDeadline && data[0] === MessageType.sync) {
      clearTimeout(this.syncDeadline)
      this.syncDeadline = null
    }
    if (!this.buffered) {
      this.handle(data)
      return
    }
    this.buffered.push(data)
    this.bufferedInBytes += data.byteLength
    if (this.bufferedInBytes > this.limits.maxBufferedBytes) {
      this.fail(
        new PeerError(
          CloseCode.limitExceeded,
          'too much sent while the room was loading or applying an earlier update',
        ),
      )
    }
  }

  private handle(frame: Uint8Array): void {
    const room = this.room!
    const started = performance.now()
    let message: IncomingMessage | null = null
    this.context.metrics?.received(frame)
    try {
      message = decodeIncoming(frame)
      if (message.kind === 'awareness' || message.kind === 'queryAwareness') this.limitAwareness(frame)
      else if (message.kind === 'syncStep2' || message.kind === 'syncUpdate') this.limitDocument(frame)
      else if (message.kind === 'syncStep1') this.limitSyncRequest()
      if (!this.authorize(message)) return
      switch (message.kind) {
        case 'syncStep1':
          room.answerSyncStep1(this, message.stateVector)
          break
        case 'syncStep2':
          this.applyUpdate(room, message.update, null)
          break
        case 'syncUpdate':
          this.applyUpdate(room, message.update, frame)
          break
        case 'awareness':
          room.applyAwareness(this, message.update, frame)
          break
        case 'queryAwareness':
          room.answerQueryAwareness(this)
          break
      }
    } catch (err) {
      if (err instanceof PeerError) this.fail(err)
      else {
        this.log.error({ conn: this.id, room: this.roomName, err }, 'unexpected error handling a message')
        this.close(CloseCode.internalError, 'internal error')
      }
    }
    const ms = performance.now() - started
    if (ms >= 5)
      this.context.noteWork?.(message?.kind ?? 'message', ms, `${frame.byteLength} bytes, ${this.roomName}`)
  }

  /**
   * Applies an update and charges the text items the room's text deltas walked for it (edits far
   * apart in a long text walk the text between them, rooms/text-deltas.ts) to this connection's
   * budget: past it, the connection is closed with 4529 (the update that overdrew it is applied,
   * none after it).
   */
  private applyUpdate(room: Room, update: Uint8Array, frame: Uint8Array | null): void {
    const overdrawn = () =>
      new PeerError(
        CloseCode.rateLimited,
        `more than ${TEXT_WALK_PER_SECOND} text items walked per second (edits far apart in a long text)`,
      )
    if (this.walkOverdrawn) throw overdrawn()
    const walked = itemsWalked()
    this.pauseUntil(room.applyUpdate(this, update, frame))
    const items = itemsWalked() - walked
    if (items <= 0) return
    this.textWalkRate ??= this.bucket(TEXT_WALK_PER_SECOND, TEXT_WALK_BURST)
    if (!this.textWalkRate.take(Math.min(items, TEXT_WALK_BURST))) {
      this.walkOverdrawn = true
      throw overdrawn()
    }
  }

  /**
   * While the room applies one of this connection's updates in slices (`work`), buffers the frames
   * that follow, as while the room loads, so they are handled in order once it is done (a later
   * update may build on the earlier one).
   */
  private pauseUntil(work: Promise<void> | undefined): void {
    if (!work) return
    this.buffered = []
    this.bufferedInBytes = 0
    work.then(
      () => this.drain(),
      (err) => {
        if (err instanceof PeerError) this.fail(err)
        else {
          this.log.error({ conn: this.id, room: this.roomName, err }, 'unexpected error applying an update')
          this.close(CloseCode.internalError, 'internal error')
        }
      },
    )
  }

  private limitAwareness(frame: Uint8Array): void {
    if (frame.byteLength > this.limits.maxAwarenessMessageBytes) {
      throw new PeerError(
        CloseCode.limitExceeded,
        `awareness message of ${frame.byteLength} bytes (limit ${this.limits.maxAwarenessMessageBytes})`,
      )
    }
    this.awarenessRate ??= this.bucket(this.limits.awarenessMessagesPerSecond, this.limits.awarenessBurst)
    if (!this.awarenessRate.take()) {
      throw new PeerError(
        CloseCode.rateLimited,
        `more than ${this.limits.awarenessMessagesPerSecond} awareness messages per second`,
      )
    }
  }

  private limitSyncRequest(): void {
    this.syncRequestRate ??= this.bucket(1, 5)
    if (!this.syncRequestRate.take()) {
      throw new PeerError(
        CloseCode.rateLimited,
        'more than 5 sync requests in a burst (1 per second sustained)',
      )
    }
  }

  private limitDocument(frame: Uint8Array): void {
    this.documentRate ??= this.bucket(this.limits.documentMessagesPerSecond, this.limits.documentMessageBurst)
    if (!this.documentRate.take()) {
      throw new PeerError(
        CloseCode.rateLimited,
        `more than ${this.limits.documentMessagesPerSecond} document messages per second`,
      )
    }
    this.documentByteRate ??= this.bucket(this.limits.documentBytesPerSecond, this.limits.documentByteBurst)
    if (!this.documentByteRate.take(frame.byteLength)) {
      throw new PeerError(
        CloseCode.rateLimited,
        `more than ${this.limits.documentBytesPerSecond} document bytes per second`,
      )
    }
  }

  /**
   * The one place where access rights are checked, per message: true to handle it, false to
   * ignore it; throws PeerError(forbidden) for what this connection may not do.
   */
  private authorize(message: IncomingMessage): boolean {
    if (this.access !== 'view') return true
    // A view link may sync and show presence, but not change the document. A step 2 or update
    // holding only what the room has (what a stock client with nothing new sends) is ignored.
    if (message.kind !== 'syncUpdate' && message.kind !== 'syncStep2') return true
    if (isEmptyUpdate(message.update)) return false
    if (this.room!.wouldChange(message.update)) {
      throw new PeerError(CloseCode.forbidden, 'this link can only view the document')
    }
    return false
  }

  private fail(err: PeerError): void {
    this.logRefusal(err)
    this.close(err.code, err.description)
  }

  private logRefusal(err: PeerError): void {
    this.log.warn(
      { conn: this.id, room: this.roomName, code: err.code, reason: err.message, cause: causeMessage(err) },
      `closing connection: ${err.description}`,
    )
  }

  /** The socket closed (`onClose`). */
  handleClose(code: number): void {
    if (this.closed) return
    this.closed = true
    this.buffered = null
    holdingBuckets.delete(this)
    if (this.syncDeadline) clearTimeout(this.syncDeadline)
    this.syncDeadline = null
    this.log.debug({ conn: this.id, room: this.roomName, code }, 'connection closed')
    this.context.metrics?.connectionClosed(code)
    try {
      this.room?.leave(this)
    } catch (err) {
      this.log.error({ conn: this.id, room: this.roomName, err }, 'leaving the room failed')
    }
    this.context.onClose(this, this.room)
  }
}

function causeMessage(err: Error): string | undefined {
  const cause = (err as { cause?: unknown }).cause
  return cause instanceof Error ? cause.message : undefined
}
