/**
 * DocStore that keeps everything in this process: nothing survives a restart. For benchmarks
 * (Tandem in-memory) and tests; it has the same semantics as the durable stores otherwise.
 */
import type { DocStore, LogEntry, SetAsideEntry, StoredPolicy, StoredRoom } from './doc-store.ts'
import { mergeStoredRoom } from './merge-log.ts'

export class MemoryStore implements DocStore {
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

  private readonly policies = new Map<string, string>()

  async loadPolicy(room: string): Promise<StoredPolicy | null> {
    const json = this.policies.get(room)
    return json === undefined ? null : (JSON.parse(json) as StoredPolicy)
  }

  async savePolicy(room: string, policy: StoredPolicy): Promise<void> {
    this.policies.set(room, JSON.stringify(policy))
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
