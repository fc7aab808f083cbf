/**
 * The storage seam: what the relay needs from a database. A room's durable state is a compacted
 * snapshot plus an append-only log of updates; loading applies the snapshot, then the log in order.
 * Every method may be called again after it failed (the relay retries failed writes).
 */

/** One update to append to one room's log. */
export interface LogEntry {
  room: string
  update: Uint8Array
}

/** Stored bytes that could not be loaded, and why. */
export interface SetAsideEntry {
  data: Uint8Array
  reason: string
}

/** What a room's storage held when it was loaded. */
export interface StoredRoom {
  /** The snapshot (a Yjs update), or null for a room never compacted. */
  snapshot: Uint8Array | null
  /** Log entries after the snapshot, oldest first. */
  updates: Uint8Array[]
  /** Total bytes of `updates` (for compaction thresholds). */
  logBytes: number
}

export interface DocStore {
  /**
   * Resolves once the store can serve requests; rejects (with a StoreOpenError) if it cannot open.
   * Absent for stores that open synchronously. The server awaits it before listening.
   */
  readonly ready?: Promise<void>
  /** Reads everything stored for `room` (an unknown room reads as empty). */
  load(room: string): Promise<StoredRoom>
  /** Appends all entries atomically: after it resolves every entry is durable, after it rejects none is. */
  append(entries: readonly LogEntry[]): Promise<void>
  /**
   * Atomically replaces `room`'s snapshot and log with one snapshot; resolves with its size in bytes.
   * With `snapshot` the caller guarantees it contains every update appended to `room` so far;
   * without, the store merges what it holds (`mergeStoredRoom`), off the caller's thread where it can.
   */
  compact(room: string, snapshot?: Uint8Array): Promise<number>
  /**
   * Keeps `entries` (stored bytes a room could not load) apart from the room's state, with the
   * reason, for an operator to inspect; they are never loaded again.
   */
  setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void>
  /** What `setAside` kept for `room`, oldest first. */
  setAsideEntries(room: string): Promise<SetAsideEntry[]>
  /** Releases the database. */
  close(): Promise<void>
}
