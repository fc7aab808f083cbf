/**
 * A token bucket per key (a client address, a room): how often the HTTP API lets one caller do
 * something. Memory is bounded: past `maxKeys` buckets, those that have refilled (they remember
 * nothing a fresh bucket would not) are dropped, then the least recently used.
 */
import { TokenBucket } from './token-bucket.ts'

export interface KeyedRateLimitOptions {
  perMinute: number
  burst: number
  /** Buckets kept at most (default 10,000). */
  maxKeys?: number
  now?: () => number
}

export class KeyedRateLimit {
  /** By key, least recently used first. */
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly maxKeys: number

  constructor(private readonly options: KeyedRateLimitOptions) {
    this.maxKeys = options.maxKeys ?? 10_000
  }

  /**
   * Takes one event (or `cost`, e.g. its bytes) for `key`: 0 when allowed, else the milliseconds
   * until it would be.
   */
  take(key: string, cost = 1): number {
    const bucket = this.bucketFor(key)
    return bucket.take(cost) ? 0 : Math.max(1, bucket.waitMs(cost))
  }

  /** `key`'s bucket, now the most recently used (a fresh one if it had none). */
  private bucketFor(key: string): TokenBucket {
    let bucket = this.buckets.get(key)
    if (bucket) this.buckets.delete(key)
    else {
      bucket = new TokenBucket(this.options.perMinute / 60, this.options.burst, this.options.now)
      this.evict()
    }
    this.buckets.set(key, bucket)
    return bucket
  }

  /** Charges `cost` to `key` after the fact (TokenBucket.charge): its next `take` waits out the debt. */
  charge(key: string, cost: number): void {
    if (cost > 0) this.bucketFor(key).charge(cost)
  }

  /** Buckets held now. */
  get size(): number {
    return this.buckets.size
  }

  private evict(): void {
    if (this.buckets.size < this.maxKeys) return
    for (const [key, bucket] of this.buckets) if (bucket.full) this.buckets.delete(key)
    while (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
  }
}
