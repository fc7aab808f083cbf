/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`; each event takes one
 * (or its cost, e.g. its bytes). Used to bound how often, and how much, one connection may send.
 */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.tokens = burst
    this.updatedAt = now()
  }

  /** Takes `cost` tokens; false (taking none) when fewer are left: the event exceeds the rate. */
  take(cost = 1): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond)
    this.updatedAt = now
    if (this.tokens < cost) return false
    this.tokens -= cost
    return true
  }
}
