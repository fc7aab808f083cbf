/**
 * A simulated star network for in-process collaboration tests: K clients, each linked to one hub, driven by
 * a seeded PRNG (every delay comes from it, so a seed replays a run exactly).
 *
 * Each message gets a random delay, so messages on different links interleave in any order; a link is FIFO
 * (like a WebSocket) unless `fifo` is false, when its messages reorder too. `disconnect` breaks a link and
 * drops everything in flight on it; `reconnect` brings it back empty. Time is virtual: `deliverNext`
 * advances it to the next message due.
 */
import * as prng from 'lib0/prng'

/** Network behaviour. */
export interface SimNetworkOptions {
  /** Largest delay of one message, in virtual ticks (the smallest is 1). */
  maxDelay: number
  /** Keep each link's messages in order (true for WebSocket-like links). */
  fifo: boolean
}

/** The hub's address; clients are 0..K-1. */
export const HUB = -1

interface InFlight<M> {
  at: number
  order: number
  from: number
  to: number
  epoch: number
  message: M
}

/** K clients around one hub; handlers receive the messages. */
export class StarNetwork<M> {
  private now = 0
  private order = 0
  private queue: InFlight<M>[] = []
  private readonly epochs: number[]
  private readonly up: boolean[]
  /** Per directed link (client*2 + direction), the time of its last scheduled message. */
  private readonly lastAt: number[]
  private hubHandler: (from: number, message: M) => void = () => {}
  private readonly clientHandlers: ((message: M) => void)[]

  constructor(
    private readonly gen: prng.PRNG,
    readonly clients: number,
    private readonly options: SimNetworkOptions,
  ) {
    this.epochs = new Array(clients).fill(0)
    this.up = new Array(clients).fill(true)
    this.lastAt = new Array(clients * 2).fill(0)
    this.clientHandlers = new Array(clients).fill(() => {})
  }

  /** Sets who receives messages sent to the hub. */
  onHub(handler: (from: number, message: M) => void): void {
    this.hubHandler = handler
  }

  /** Sets who receives messages sent to `client`. */
  onClient(client: number, handler: (message: M) => void): void {
    this.clientHandlers[client] = handler
  }

  /** Is the link of `client` up? */
  isUp(client: number): boolean {
    return this.up[client]
  }

  /** Sends from a client to the hub (dropped if the link is down). */
  toHub(from: number, message: M): void {
    this.schedule(from, HUB, message)
  }

  /** Sends from the hub to a client (dropped if the link is down). */
  toClient(to: number, message: M): void {
    this.schedule(HUB, to, message)
  }

  /** Breaks the link of `client`; what is in flight on it is lost. */
  disconnect(client: number): void {
    this.up[client] = false
    this.epochs[client]++
  }

  /** Brings the link of `client` back up (empty). */
  reconnect(client: number): void {
    this.up[client] = true
  }

  /** Messages in flight (including ones a broken link will drop). */
  get pending(): number {
    return this.queue.length
  }

  /** Delivers the message due next; returns false when nothing is in flight. */
  deliverNext(): boolean {
    while (this.queue.length > 0) {
      let best = 0
      for (let i = 1; i < this.queue.length; i++) {
        const q = this.queue[i]
        const b = this.queue[best]
        if (q.at < b.at || (q.at === b.at && q.order < b.order)) best = i
      }
      const m = this.queue[best]
      this.queue[best] = this.queue[this.queue.length - 1]
      this.queue.pop()
      this.now = Math.max(this.now, m.at)
      const client = m.to === HUB ? m.from : m.to
      if (m.epoch !== this.epochs[client]) continue // sent on a link that broke since
      if (m.to === HUB) this.hubHandler(m.from, m.message)
      else this.clientHandlers[m.to](m.message)
      return true
    }
    return false
  }

  /** Delivers until nothing is in flight (handlers may send more). */
  flush(): void {
    while (this.deliverNext()) {}
  }

  private schedule(from: number, to: number, message: M): void {
    const client = to === HUB ? from : to
    if (!this.up[client]) return
    let at = this.now + prng.uint32(this.gen, 1, this.options.maxDelay)
    const link = client * 2 + (to === HUB ? 0 : 1)
    if (this.options.fifo) at = Math.max(at, this.lastAt[link])
    this.lastAt[link] = Math.max(this.lastAt[link], at)
    this.queue.push({ at, order: this.order++, from, to, epoch: this.epochs[client], message })
  }
}
