/**
 * Each room's access policy: its mode ('edit', or 'view' which makes every edit token read-only;
 * admins keep editing) and the token ids its admins revoked. The policy is the store's: every change
 * is written there (a revocation is one row, refused past `maxRevocationsPerRoom` live ones) before
 * it is reported, then announced (`announce`, the bus) so every instance re-reads it.
 *
 * What this process keeps is a cache of what it read, and only that: bounded in count (least
 * recently used first out) and forgotten when nobody asked for a room for `policyIdleMs`. `forget`
 * drops one room (another instance changed it), `forgetAll` every room (this instance may have
 * missed announcements: Redis was away). A revocation is kept until no token with that id can still
 * be valid (`until`, the issue time plus the longest lifetime the server accepts), then pruned.
 */
import type { AccessLevel, RoomMode } from '../../shared/protocol/index.ts'
import type { PolicyStore, RevocationResult } from '../store/index.ts'

/** What `access` may do in a room in `mode`: in view mode an edit token only views; admins keep editing. */
export function effectiveAccess(access: AccessLevel, mode: RoomMode): AccessLevel {
  return mode === 'view' && access === 'edit' ? 'view' : access
}

export interface RoomPolicyOptions {
  now?: () => number
  /** Live revocations one room may hold; a revocation past it is refused (`full`). */
  maxRevocationsPerRoom?: number
  /** Rooms whose policy is kept in memory at most. */
  maxCachedPolicies?: number
  /** A cached policy nobody asked for this long (ms) is forgotten. */
  policyIdleMs?: number
  /** Tells the other instances that `room`'s policy changed in the store (the bus). */
  announce?: (room: string) => void
}

interface Policy {
  mode: RoomMode
  /** Revoked token ids (each until its expiry, see `until`). */
  revoked: Map<string, number>
}

interface CachedPolicy {
  policy: Promise<Policy>
  usedAt: number
}

/** Store-wide pruning of dead revocations runs at most this often (ms). */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000

export class RoomPolicies {
  /** By room, least recently used first. */
  private readonly cache = new Map<string, CachedPolicy>()
  /** Per room, the last mode save: mode changes of one room are saved in order. */
  private readonly saving = new Map<string, Promise<void>>()
  private readonly now: () => number
  private readonly maxRevocationsPerRoom: number
  private readonly maxCachedPolicies: number
  private readonly policyIdleMs: number
  private readonly announce: (room: string) => void
  private lastSweep: number
  private lastPrune: number

  constructor(
    private readonly store: PolicyStore,
    options: RoomPolicyOptions = {},
  ) {
    this.now = options.now ?? Date.now
    this.maxRevocationsPerRoom = options.maxRevocationsPerRoom ?? 1_000
    this.maxCachedPolicies = options.maxCachedPolicies ?? 10_000
    this.policyIdleMs = options.policyIdleMs ?? 10 * 60 * 1000
    this.announce = options.announce ?? (() => {})
    this.lastSweep = this.lastPrune = this.now()
  }

  /** Rooms whose policy is in memory now. */
  get cachedCount(): number {
    return this.cache.size
  }

  /** The room's mode. */
  async mode(room: string): Promise<RoomMode> {
    return (await this.policy(room)).mode
  }

  /** True when the token id `jti` was revoked in `room`. */
  async isRevoked(room: string, jti: string): Promise<boolean> {
    const until = (await this.policy(room)).revoked.get(jti)
    return until !== undefined && until > this.now()
  }

  /**
   * Revokes `jti` in `room` until `until` (ms); resolves once saved and announced, with `full`
   * (nothing saved) when the room already holds `maxRevocationsPerRoom` live revocations.
   */
  async revoke(room: string, jti: string, until: number): Promise<RevocationResult> {
    const now = this.now()
    const result = await this.store.addRevocation(room, { jti, until }, this.maxRevocationsPerRoom, now)
    if (result === 'added') this.changed(room)
    this.pruneNowAndThen(now)
    return result
  }

  /** Sets `room`'s mode; resolves once saved and announced. */
  async setMode(room: string, mode: RoomMode): Promise<void> {
    const previous = this.saving.get(room) ?? Promise.resolve()
    const done = previous.catch(() => {}).then(() => this.store.saveMode(room, mode))
    this.saving.set(room, done)
    try {
      await done
    } finally {
      if (this.saving.get(room) === done) this.saving.delete(room)
    }
    this.changed(room)
  }

  /** Drops `room`'s cached policy: the next question re-reads the store. */
  forget(room: string): void {
    this.cache.delete(room)
  }

  /** Drops every cached policy (this instance may have missed changes). */
  forgetAll(): void {
    this.cache.clear()
  }

  private changed(room: string): void {
    this.forget(room)
    this.announce(room)
  }

  private policy(room: string): Promise<Policy> {
    const now = this.now()
    this.sweep(now)
    const cached = this.cache.get(room)
    if (cached) {
      // Most recently used last.
      this.cache.delete(room)
      cached.usedAt = now
      this.cache.set(room, cached)
      return cached.policy
    }
    const entry: CachedPolicy = { policy: this.load(room), usedAt: now }
    this.cache.set(room, entry)
    // A failed read is retried by the next caller rather than cached.
    entry.policy.catch(() => {
      if (this.cache.get(room) === entry) this.cache.delete(room)
    })
    while (this.cache.size > this.maxCachedPolicies) {
      this.cache.delete(this.cache.keys().next().value as string)
    }
    return entry.policy
  }

  /** Forgets policies idle for `policyIdleMs` (the oldest are first: stops at the first fresh one). */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.policyIdleMs / 4) return
    this.lastSweep = now
    for (const [room, entry] of this.cache) {
      if (now - entry.usedAt < this.policyIdleMs) break
      this.cache.delete(room)
    }
  }

  private async load(room: string): Promise<Policy> {
    const stored = await this.store.loadPolicy(room, this.now())
    const revoked = new Map<string, number>()
    for (const { jti, until } of stored?.revoked ?? []) revoked.set(jti, until)
    return { mode: stored?.mode === 'view' ? 'view' : 'edit', revoked }
  }

  /** Deletes dead revocations of every room, at most once per PRUNE_INTERVAL_MS. */
  private pruneNowAndThen(now: number): void {
    if (now - this.lastPrune < PRUNE_INTERVAL_MS) return
    this.lastPrune = now
    this.store.pruneRevocations(now).catch(() => {
      // Pruning is housekeeping: the next revocation tries again.
      this.lastPrune = 0
    })
  }
}
