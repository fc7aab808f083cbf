/**
 * Each room's access policy: its mode ('edit', or 'view' which makes every edit token read-only;
 * admins keep editing) and the token ids its admins revoked. Policies are read from the store once
 * per room and kept in memory; every change is saved through the store before it is reported, so
 * revocations and the mode survive a restart. A revocation is kept until no token with that id can
 * still be valid (`until`, the issue time plus the longest lifetime the server accepts), then pruned.
 */
import type { Logger } from 'pino'
import type { AccessLevel } from '../../shared/protocol/index.ts'
import type { DocStore, StoredPolicy } from '../store/index.ts'

export type RoomMode = 'edit' | 'view'

export const isRoomMode = (value: unknown): value is RoomMode => value === 'edit' || value === 'view'

/** What `access` may do in a room in `mode`: in view mode an edit token only views; admins keep editing. */
export function effectiveAccess(access: AccessLevel, mode: RoomMode): AccessLevel {
  return mode === 'view' && access === 'edit' ? 'view' : access
}

interface Policy {
  mode: RoomMode
  /** jti -> ms since the epoch after which the revocation can be forgotten. */
  revoked: Map<string, number>
}

export class RoomPolicies {
  private readonly policies = new Map<string, Promise<Policy>>()
  /** Per room, the last save: changes to one room are saved in order. */
  private readonly saving = new Map<string, Promise<void>>()
  private warnedNoPersistence = false

  constructor(
    private readonly store: DocStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The room's mode. */
  async mode(room: string): Promise<RoomMode> {
    return (await this.policy(room)).mode
  }

  /** True when the token id `jti` was revoked in `room`. */
  async isRevoked(room: string, jti: string): Promise<boolean> {
    return (await this.policy(room)).revoked.has(jti)
  }

  /** Revokes `jti` in `room` until `until` (ms); resolves once saved. */
  async revoke(room: string, jti: string, until: number): Promise<void> {
    const policy = await this.policy(room)
    policy.revoked.set(jti, Math.max(until, policy.revoked.get(jti) ?? 0))
    await this.save(room, policy)
  }

  /** Sets `room`'s mode; resolves once saved. */
  async setMode(room: string, mode: RoomMode): Promise<void> {
    const policy = await this.policy(room)
    policy.mode = mode
    await this.save(room, policy)
  }

  private policy(room: string): Promise<Policy> {
    let policy = this.policies.get(room)
    if (!policy) {
      policy = this.load(room)
      this.policies.set(room, policy)
      // A failed read is retried by the next caller rather than cached.
      policy.catch(() => this.policies.delete(room))
    }
    return policy
  }

  private async load(room: string): Promise<Policy> {
    const stored = this.store.loadPolicy ? await this.store.loadPolicy(room) : null
    const now = this.now()
    const revoked = new Map<string, number>()
    for (const { jti, until } of stored?.revoked ?? []) if (until > now) revoked.set(jti, until)
    return { mode: stored?.mode === 'view' ? 'view' : 'edit', revoked }
  }

  private save(room: string, policy: Policy): Promise<void> {
    const now = this.now()
    for (const [jti, until] of policy.revoked) if (until <= now) policy.revoked.delete(jti)
    const record: StoredPolicy = {
      mode: policy.mode,
      revoked: [...policy.revoked].map(([jti, until]) => ({ jti, until })),
    }
    if (!this.store.savePolicy) {
      if (!this.warnedNoPersistence) {
        this.warnedNoPersistence = true
        this.log.warn('the store cannot save room policies: revocations and modes last until restart')
      }
      return Promise.resolve()
    }
    const savePolicy = this.store.savePolicy.bind(this.store)
    const previous = this.saving.get(room) ?? Promise.resolve()
    const done = previous.catch(() => {}).then(() => savePolicy(room, record))
    this.saving.set(room, done)
    void done
      .finally(() => {
        if (this.saving.get(room) === done) this.saving.delete(room)
      })
      .catch(() => {})
    return done
  }
}
