/**
 * One end of a Jupiter link (Nichols et al., UIST 1995): two sites exchanging ops over an in-order channel,
 * any number outstanding in both directions. Each message carries how many ops its sender had sent and
 * received; the receiver forgets its own ops the sender had already seen and transforms the incoming op
 * past the rest (and them past it). Correct with TP1 alone, because each link is its own 2-D state space.
 * Used to replay concurrent traces, whose sites may run many ops ahead of one another.
 *
 * Ties (two inserts at one position) go by site priority, as in adOPTed and GOT: every op carries the id
 * of the site that authored it (a server relays other sites' ops under their authors' ids), and the op of
 * the lower id goes first. Both ends of a link see the same pair of authors, so they break the tie the same
 * way, which is all TP1 needs. Unlike "whoever reached the server first", priority does not depend on
 * timing, so a run of characters typed by one site is never interleaved with another site's run that
 * lands at the same position (the case a concurrent delete creates: see docs/ot.md).
 */
import type { TextOp } from './op.ts'
import { type Side, transform } from './transform.ts'

/** An op sent over a Jupiter link, with its author and the sender's counts at the time. */
export interface JupiterMessage {
  op: TextOp
  /** Id of the site that authored the op (ties: lower id first). */
  author: number
  /** Ops the sender had sent before this one. */
  sent: number
  /** Ops the sender had received. */
  received: number
}

/** One site's end of a link. */
export class JupiterSite {
  private sent = 0
  private received = 0
  /** Own ops not known to be seen by the other end, each transformed to apply to the current state. */
  private outgoing: { op: TextOp; author: number; index: number }[] = []
  private first = 0
  /** Number of single transforms performed (a cost measure). */
  transforms = 0

  /** Records an op on the current local state, authored by site `author`, and returns the message to send. */
  send(op: TextOp, author: number): JupiterMessage {
    this.outgoing.push({ op, author, index: this.sent })
    return { op, author, sent: this.sent++, received: this.received }
  }

  /** Takes the next message from the other end and returns its op transformed to apply locally. */
  receive(message: JupiterMessage): TextOp {
    while (this.first < this.outgoing.length && this.outgoing[this.first].index < message.received)
      this.first++
    if (this.first > 1024 && this.first * 2 > this.outgoing.length) {
      this.outgoing = this.outgoing.slice(this.first)
      this.first = 0
    }
    let op = message.op
    for (let i = this.first; i < this.outgoing.length; i++) {
      const mine = this.outgoing[i]
      if (mine.author === message.author) {
        throw new TypeError(`two concurrent ops by site ${mine.author}: a site's own ops are sequential`)
      }
      const incomingSide: Side = message.author < mine.author ? 'left' : 'right'
      const next = transform(op, mine.op, incomingSide)
      mine.op = transform(mine.op, op, incomingSide === 'left' ? 'right' : 'left')
      op = next
      this.transforms += 2
    }
    this.received++
    return op
  }
}
