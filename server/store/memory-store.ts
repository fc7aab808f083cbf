/**
 * DocStore that keeps everything in this process: nothing survives a restart. For benchmarks
 * (Tandem in-memory) and tests; it has the same semantics as the durable stores otherwise.
 */
import type {
  DocStore,
  LogEntry,
  Revocation,
  RevocationResult,
  SetAsideEntry,
  StoredPolicy,
  StoredRoom,
} from './doc-store.ts'
import { mergeStoredRoom } from './merge-log.ts'

export class MemoryStore implements DocStore {
  /** Open from construction. */
  readonly ready = Promise.resolve()
  private readonly rooms = new Map<string, { snapshot: Uint8Array | null; updates: Uint8Array[] }>()

  async load(room: string): Promise<StoredRoom> {
    return this.read(room)
  }

  private read(room: string): StoredRoom {
    const stored = this.rooms.get(room)
    if (!stored) return { snapshot: null, updates: [], logBytes: 0 }
    let logBytes = 0
    for (const update of stored.updates) logBytes += update.byteLength
    return { snapshot: stored.snapshot, updates: stored.updates.slice(), logBytes }
  }

  async append(entries: readonly LogEntry[]): Promise<void> {
    for (const { room, update } of entries) {
      let stored = this.rooms.get(room)
      if (!stored) {
        stored = { snapshot: null, updates: [] }
        this.rooms.set(room, stored)
      }
      // A copy: `update` may be a view into a large socket read buffer that it would keep alive.
      stored.updates.push(update.slice())
    }
  }

  async compact(room: string, snapshot?: Uint8Array): Promise<number> {
    // Read, merged and replaced without yielding: no append can fall between.
    const merged = snapshot ?? mergeStoredRoom(this.read(room))
    this.rooms.set(room, { snapshot: merged, updates: [] })
    return merged.byteLength
  }

  /** What `setAside` kept, per room. */
  readonly quarantine: Array<SetAsideEntry & { room: string }> = []

  async setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void> {
    for (const entry of entries) this.quarantine.push({ room, ...entry })
  }

  async setAsideEntries(room: string): Promise<SetAsideEntry[]> {
    return this.quarantine
      .filter((entry) => entry.room === room)
      .map(({ data, reason }) => ({ data, reason }))
  }

  private readonly modes = new Map<string, StoredPolicy['mode']>()
  /** Per room: jti -> until. */
  private readonly revocations = new Map<string, Map<string, number>>()

  async loadPolicy(room: string, now: number): Promise<StoredPolicy | null> {
    const mode = this.modes.get(room)
    const revocations = this.revocations.get(room)
    if (mode === undefined && revocations === undefined) return null
    const revoked = [...(revocations ?? [])]
      .filter(([, until]) => until > now)
      .map(([jti, until]) => ({ jti, until }))
    return { mode: mode ?? 'edit', revoked }
  }

  async saveMode(room: string, mode: StoredPolicy['mode']): Promise<void> {
    this.modes.set(room, mode)
  }

  async addRevocation(
    room: string,
    { jti, until }: Revocation,
    max: number,
    now: number,
  ): Promise<RevocationResult> {
    let revocations = this.revocations.get(room)
    if (!revocations) {
      revocations = new Map()
      this.revocations.set(room, revocations)
    }
    for (const [id, end] of revocations) if (end <= now) revocations.delete(id)
    const known = revocations.get(jti)
    if (known === undefined && revocations.size >= max) return 'full'
    revocations.set(jti, Math.max(until, known ?? 0))
    return 'added'
  }

  async pruneRevocations(now: number): Promise<number> {
    let pruned = 0
    for (const [room, revocations] of this.revocations) {
      for (const [id, end] of revocations) {
        if (end > now) continue
        revocations.delete(id)
        pruned++
      }
      if (revocations.size === 0) this.revocations.delete(room)
    }
    return pruned
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
