/**
 * The central OT server (the ot.js / Jupiter star): it orders all ops in one revision log. An op based on
 * revision r is transformed against the log entries r..head (the incoming op takes the 'right' side, so
 * the op the server ordered first wins a tie) and appended; its author reads the broadcast as its ack.
 */
import { apply } from './apply.ts'
import { SessionProtocolError } from './errors.ts'
import { checkOp } from './op.ts'
import { Rope } from './rope.ts'
import type { ClientMessage, OpMessage } from './session-messages.ts'
import { transform } from './transform.ts'

/** A message the server wants sent: to every connected client, or to one. */
export interface Outgoing {
  to: 'all' | string
  message: OpMessage
}

/** The authoritative document and its revision log. */
export class OTServer {
  /** The document at the head revision. */
  readonly doc: Rope
  private readonly log: OpMessage[] = []
  private readonly lastSeq = new Map<string, number>()
  /** Number of single transforms performed (a cost measure for benchmarks). */
  transforms = 0

  constructor(initial = '') {
    this.doc = new Rope(initial)
  }

  /** The head revision (number of ops in the log). */
  get revision(): number {
    return this.log.length
  }

  /** The document text at the head. */
  text(): string {
    return this.doc.toString()
  }

  /**
   * Handles one client message and returns what to send. Throws SessionProtocolError for a revision the
   * server never had, InvalidOpError / OpDoesNotFitError for a bad op (the document stays untouched).
   */
  receive(message: ClientMessage): Outgoing[] {
    const { revision } = message
    if (!Number.isSafeInteger(revision) || revision < 0 || revision > this.log.length) {
      throw new SessionProtocolError(`${message.client}: revision ${revision} outside 0..${this.log.length}`)
    }
    if (message.type === 'hello') {
      return this.log.slice(revision).map((entry) => ({ to: message.client, message: entry }))
    }
    if (message.seq <= (this.lastSeq.get(message.client) ?? -1)) return [] // a resubmission already applied
    checkOp(message.op)
    let op = message.op
    for (let r = revision; r < this.log.length; r++) {
      op = transform(op, this.log[r].op, 'right')
      this.transforms++
    }
    apply(this.doc, op)
    const entry: OpMessage = {
      type: 'op',
      revision: this.log.length,
      op,
      client: message.client,
      seq: message.seq,
    }
    this.log.push(entry)
    this.lastSeq.set(message.client, message.seq)
    return [{ to: 'all', message: entry }]
  }
}
