/**
 * The storage seam: what the relay needs from a database. A room's durable state is a compacted
 * snapshot plus an append-only log of updates; loading applies the snapshot, then the log in order.
 * Every method may be called again after it failed (the relay retries failed writes).
 */
import type { RoomMode } from '../../shared/protocol/index.ts'

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

/**
 * A room's access policy (see server/auth/room-policy.ts): its mode and the token ids revoked in
 * it, each with the time (ms since the epoch) after which no token with that id can be valid, so
 * it can be pruned.
 */
export interface StoredPolicy {
  mode: RoomMode
  revoked: Revocation[]
}

/** A revoked token id, kept until `until` (ms since the epoch). */
export interface Revocation {
  jti: string
  until: number
}

/**
 * What `addRevocation` did: `added` (stored, or an earlier revocation of the id extended), or
 * `full` (the room already holds `max` live revocations; nothing was written).
 */
export type RevocationResult = 'added' | 'full'

/**
 * Where rooms' access policies are kept (server/auth/room-policy.ts reads and writes them). Part of
 * every DocStore, so a policy change is as durable as the documents and seen by every instance.
 */
export interface PolicyStore {
  /** The policy saved for `room` (revocations still live at `now` only), or null if nothing was. */
  loadPolicy(room: string, now: number): Promise<StoredPolicy | null>
  /** Durably sets `room`'s mode. */
  saveMode(room: string, mode: RoomMode): Promise<void>
  /**
   * Durably revokes `revocation.jti` in `room` (one row: the cost does not grow with the room's
   * list), first dropping the room's revocations dead at `now`. Refuses with `full` when the room
   * holds `max` live revocations and this id is not among them; atomic across instances.
   */
  addRevocation(room: string, revocation: Revocation, max: number, now: number): Promise<RevocationResult>
  /** Deletes every revocation dead at `now`, in every room; resolves with how many. */
  pruneRevocations(now: number): Promise<number>
}

/**
 * Every member is required, so a wrapper (a fault-injecting store in a test, a custom backend) that
 * forgets one does not compile instead of silently losing what it does.
 */
export interface DocStore extends PolicyStore {
  /**
   * Resolves once the store can serve requests; rejects (with a StoreOpenError) if it cannot open.
   * Already resolved for stores that open synchronously. The server awaits it before listening.
   */
  readonly ready: Promise<void>
  /** Reads everything stored for `room` (an unknown room reads as empty). */
  load(room: string): Promise<StoredRoom>
  /** Appends all entries atomically: after it resolves every entry is durable, after it rejects none is. */
  append(entries: readonly LogEntry[]): Promise<void>
  /**
   * Atomically replaces `room`'s snapshot and log with one snapshot; resolves with its size in bytes.
   * With `snapshot` the caller guarantees it contains every update appended to `room` so far;
   * without, the store merges what it holds (`mergeStoredRoom`), off the caller's thread where it can,
   * and the caller may go on appending meanwhile: the store replaces only what it merged.
   */
  compact(room: string, snapshot?: Uint8Array): Promise<number>
  /**
   * Keeps `entries` (stored bytes a room could not load) apart from the room's state, with the
   * reason, for an operator to inspect; they are never loaded again.
   */
  setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void>
  /** What `setAside` kept for `room`, oldest first. */
  setAsideEntries(room: string): Promise<SetAsideEntry[]>
  /** Resolves when the database answers a trivial query, rejects when it does not (for `GET /ready`). */
  ping(): Promise<void>
  /** Releases the database. */
  close(): Promise<void>
}
