/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`; each event takes one
 * (or its cost, e.g. its bytes). Used to bound how often, and how much, one connection may send.
 */
/** The default clock, one function for every bucket (a bound `performance.now` each would cost ~80 bytes). */
const monotonicNow = (): number => performance.now()

export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.tokens = burst
    this.updatedAt = now()
  }

  /** Takes `cost` tokens; false (taking none) when fewer are left: the event exceeds the rate. */
  take(cost = 1): boolean {
    this.refill()
    if (this.tokens < cost) return false
    this.tokens -= cost
    return true
  }

  /**
   * Takes `cost` tokens whether or not they are there (for work measured after it was done): the
   * bucket may go into debt, at most one burst deep, and refuses every `take` until it is repaid.
   */
  charge(cost: number): void {
    this.refill()
    this.tokens = Math.max(-this.burst, this.tokens - cost)
  }

  /** Milliseconds until `cost` tokens are there (0: now). */
  waitMs(cost = 1): number {
    this.refill()
    return this.tokens >= cost ? 0 : ((cost - this.tokens) / this.ratePerSecond) * 1000
  }

  /** True when the bucket is full again (it then remembers nothing a fresh one would not). */
  get full(): boolean {
    this.refill()
    return this.tokens >= this.burst
  }

  private refill(): void {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond)
    this.updatedAt = now
  }
}
