/**
 * One end of a Jupiter link (Nichols et al., UIST 1995): two sites exchanging ops over an in-order channel,
 * any number outstanding in both directions. Each message carries how many ops its sender had sent and
 * received; the receiver forgets its own ops the sender had already seen and transforms the incoming op
 * past the rest (and them past it). Correct with TP1 alone, because each link is its own 2-D state space.
 * Used to replay concurrent traces, whose sites may run many ops ahead of one another.
 */
import type { TextOp } from './op.ts'
import { type Side, transform } from './transform.ts'

/** An op sent over a Jupiter link, with the sender's counts at the time. */
export interface JupiterMessage {
  op: TextOp
  /** Ops the sender had sent before this one. */
  sent: number
  /** Ops the sender had received. */
  received: number
}

/** One site's end of a link; its own ops take `side` in ties (the server end 'left', the client 'right'). */
export class JupiterSite {
  private sent = 0
  private received = 0
  /** Own ops not known to be seen by the other end, each transformed to apply to the current state. */
  private outgoing: { op: TextOp; index: number }[] = []
  private first = 0
  /** Number of single transforms performed (a cost measure). */
  transforms = 0

  constructor(private readonly side: Side) {}

  /** Records a local op (on the current local state) and returns the message to send. */
  send(op: TextOp): JupiterMessage {
    this.outgoing.push({ op, index: this.sent })
    return { op, sent: this.sent++, received: this.received }
  }

  /** Takes the next message from the other end and returns its op transformed to apply locally. */
  receive(message: JupiterMessage): TextOp {
    while (this.first < this.outgoing.length && this.outgoing[this.first].index < message.received)
      this.first++
    if (this.first > 1024 && this.first * 2 > this.outgoing.length) {
      this.outgoing = this.outgoing.slice(this.first)
      this.first = 0
    }
    const other: Side = this.side === 'left' ? 'right' : 'left'
    let op = message.op
    for (let i = this.first; i < this.outgoing.length; i++) {
      const mine = this.outgoing[i]
      const next = transform(op, mine.op, other)
      mine.op = transform(mine.op, op, this.side)
      op = next
      this.transforms += 2
    }
    this.received++
    return op
  }
}
