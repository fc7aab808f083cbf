/**
 * DocStore that keeps everything in this process: nothing survives a restart. For benchmarks
 * (Tandem in-memory) and tests; it has the same semantics as the durable stores otherwise.
 */
import {
  type ChangeRetention,
  type ChangesRead,
  type ChangesReadOptions,
  DEFAULT_CHANGE_RETENTION,
  type DocStore,
  type LogEntry,
  type Revocation,
  type RevocationResult,
  type SetAsideEntry,
  type StoredChange,
  type StoredPolicy,
  type StoredRoom,
} from './doc-store.ts'
import { MemoryAuthorLog } from './memory-author-log.ts'
import { MemoryVersionLog } from './memory-version-log.ts'
import { mergeStoredRoom } from './merge-log.ts'

/** A room's kept changes: ids `latest - kept.length + 1` to `latest`, oldest first. */
interface RoomChanges {
  kept: StoredChange[]
  latest: number
}

export interface MemoryStoreOptions {
  /** How many changes each room keeps when it compacts (default DEFAULT_CHANGE_RETENTION). */
  changeRetention?: ChangeRetention
}

export class MemoryStore implements DocStore {
  /** Open from construction. */
  readonly ready = Promise.resolve()
  private readonly rooms = new Map<string, { snapshot: Uint8Array | null; updates: Uint8Array[] }>()
  private readonly changes = new Map<string, RoomChanges>()
  private readonly changeRetention: ChangeRetention
  readonly versions = new MemoryVersionLog()
  readonly authors = new MemoryAuthorLog()

  constructor(options: MemoryStoreOptions = {}) {
    this.changeRetention = options.changeRetention ?? DEFAULT_CHANGE_RETENTION
  }

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

  async append(entries: readonly LogEntry[]): Promise<number[]> {
    // Copies first, so an entry that cannot be stored fails the batch before any of it is kept. A
    // copy: `update` may be a view into a large socket read buffer that it would keep alive.
    const copies = entries.map(({ update }) => update.slice())
    const now = Date.now()
    return entries.map(({ room, change }, i) => {
      let stored = this.rooms.get(room)
      if (!stored) {
        stored = { snapshot: null, updates: [] }
        this.rooms.set(room, stored)
      }
      stored.updates.push(copies[i])
      let changes = this.changes.get(room)
      if (!changes) {
        changes = { kept: [], latest: 0 }
        this.changes.set(room, changes)
      }
      const id = ++changes.latest
      changes.kept.push({
        id,
        at: change?.at ?? now,
        author: change?.author ?? null,
        delta: change?.delta ?? null,
        // The log's copy (shared until a compaction merges the log; pruned with the change).
        update: copies[i],
      })
      return id
    })
  }

  async compact(room: string, snapshot?: Uint8Array): Promise<number> {
    // Read, merged and replaced without yielding: no append can fall between.
    const merged = snapshot ?? mergeStoredRoom(this.read(room))
    this.rooms.set(room, { snapshot: merged, updates: [] })
    this.prune(room, this.changeRetention, Date.now())
    return merged.byteLength
  }

  async changesSince(
    room: string,
    after: number,
    limit: number,
    options?: ChangesReadOptions,
  ): Promise<ChangesRead> {
    const changes = this.changes.get(room)
    if (!changes || changes.kept.length === 0) return { changes: [], oldest: null, latest: 0, latestAt: null }
    const { kept, latest } = changes
    const oldest = kept[0].id
    const start = Math.max(0, after + 1 - oldest)
    const page = kept.slice(start, start + Math.max(0, limit))
    return {
      changes: page.map(({ update, ...change }) => (options?.updates ? { ...change, update } : change)),
      oldest,
      latest,
      latestAt: kept[kept.length - 1].at,
    }
  }

  async setChangeDelta(room: string, id: number, delta: string): Promise<void> {
    const kept = this.changes.get(room)?.kept
    const change = kept?.[id - (kept[0]?.id ?? 0)]
    if (change?.id === id && change.delta === null) change.delta = delta
  }

  async pruneChanges(room: string, retention: ChangeRetention, now: number): Promise<number> {
    return this.prune(room, retention, now)
  }

  private prune(room: string, { count, ms }: ChangeRetention, now: number): number {
    const changes = this.changes.get(room)
    if (!changes) return 0
    const { kept } = changes
    const upTo = changes.latest - Math.max(count, 1)
    let dropped = 0
    while (dropped < kept.length && kept[dropped].id <= upTo && kept[dropped].at <= now - ms) dropped++
    kept.splice(0, dropped)
    return dropped
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
