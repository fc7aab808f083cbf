/**
 * The OT client state machine (ot.js, after Jupiter): at most one op in flight to the server, later local
 * edits composed into one buffer.
 *
 *   synchronized        --local op-->  awaitingConfirm     (send it)
 *   awaitingConfirm     --local op-->  awaitingWithBuffer  (buffer it)
 *   awaitingWithBuffer  --local op-->  awaitingWithBuffer  (compose into the buffer)
 *   awaitingConfirm     --ack------->  synchronized
 *   awaitingWithBuffer  --ack------->  awaitingConfirm     (send the buffer)
 *
 * A remote op is transformed past the in-flight op and the buffer (the server's op takes the 'left' side,
 * as on the server) and applied to the local document. Reconnecting says hello and resubmits the
 * in-flight op; see session-messages.ts.
 */
import { apply } from './apply.ts'
import { compose } from './compose.ts'
import { SessionProtocolError } from './errors.ts'
import type { TextOp } from './op.ts'
import { Rope } from './rope.ts'
import type { ClientMessage, ServerMessage } from './session-messages.ts'
import { transform } from './transform.ts'

/** Where the client is in the state machine above. */
export type ClientState = 'synchronized' | 'awaitingConfirm' | 'awaitingWithBuffer'

/** One editing site talking to an OTServer through `send`. */
export class OTClient {
  /** The local document (server revision + in-flight op + buffer). */
  readonly doc: Rope
  /** Server revision the local document is based on. */
  revision = 0
  private inflight: { seq: number; op: TextOp } | null = null
  private buffer: TextOp | null = null
  private nextSeq = 0
  private online = false

  /** A client named `id` (unique per server) whose document starts as `initial`, like the server's. */
  constructor(
    readonly id: string,
    private readonly send: (message: ClientMessage) => void,
    initial = '',
  ) {
    this.doc = new Rope(initial)
  }

  /** Current state of the state machine. */
  get state(): ClientState {
    return this.inflight === null
      ? 'synchronized'
      : this.buffer === null
        ? 'awaitingConfirm'
        : 'awaitingWithBuffer'
  }

  /** The local text. */
  text(): string {
    return this.doc.toString()
  }

  /** The link is up: ask for missed ops and resubmit the unacknowledged op. */
  connect(): void {
    this.online = true
    this.send({ type: 'hello', client: this.id, revision: this.revision })
    if (this.inflight) this.submit()
  }

  /** The link broke: keep editing locally, send nothing until `connect`. */
  disconnect(): void {
    this.online = false
  }

  /** Applies a local edit (an op on the current local text) and sends or buffers it. */
  applyLocal(op: TextOp): void {
    apply(this.doc, op)
    if (this.inflight === null) {
      this.inflight = { seq: this.nextSeq++, op }
      if (this.online) this.submit()
    } else this.buffer = this.buffer === null ? op : compose(this.buffer, op)
  }

  /**
   * Handles a server message: an ack of the in-flight op or a remote op, which it transforms and applies.
   * Returns the op applied locally (null for an ack or a duplicate). Throws SessionProtocolError on a gap.
   */
  receive(message: ServerMessage): TextOp | null {
    if (message.revision < this.revision) return null
    if (message.revision > this.revision) {
      throw new SessionProtocolError(
        `${this.id}: expected revision ${this.revision}, got ${message.revision}`,
      )
    }
    this.revision++
    if (message.client === this.id && this.inflight?.seq === message.seq) {
      this.inflight = null
      if (this.buffer !== null) {
        this.inflight = { seq: this.nextSeq++, op: this.buffer }
        this.buffer = null
        if (this.online) this.submit()
      }
      return null
    }
    let op = message.op
    if (this.inflight) {
      const inflightOp = this.inflight.op
      this.inflight.op = transform(inflightOp, op, 'right')
      op = transform(op, inflightOp, 'left')
    }
    if (this.buffer) {
      const buffer = this.buffer
      this.buffer = transform(buffer, op, 'right')
      op = transform(op, buffer, 'left')
    }
    apply(this.doc, op)
    return op
  }

  private submit(): void {
    const { seq, op } = this.inflight!
    this.send({ type: 'submit', client: this.id, seq, revision: this.revision, op })
  }
}
