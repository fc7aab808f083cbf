/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`; each event takes one.
 * Used to bound how often one connection may send a kind of message.
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

  /** Takes a token; false when the bucket is empty (the event exceeds the rate). */
  take(): boolean {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond)
    this.updatedAt = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
