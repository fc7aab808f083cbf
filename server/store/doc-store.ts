/**
 * The storage seam: what the relay needs from a database. A room's durable state is a compacted
 * snapshot plus an append-only log of updates; loading applies the snapshot, then the log in order.
 * Every method may be called again after it failed (the relay retries failed writes).
 */
import type { RoomMode } from '../../shared/protocol/index.ts'
import type { AuthorStore, VersionStore } from './history-store.ts'

/** One update to append to one room's log: a change, which the store numbers (see ChangeStore). */
export interface LogEntry {
  room: string
  update: Uint8Array
  /** What the change did and who made it, kept with its id for the change feed (absent: nothing known). */
  change?: ChangeInfo
}

/** What a committed change did to the room's text, when, and who made it. */
export interface ChangeInfo {
  /** When it was committed (ms since the epoch). */
  at: number
  /** Who made it (a display name), where known. */
  author: string | null
  /**
   * Its text delta as JSON (`[{"retain":n},{"insert":"s"},{"delete":n}]`, PROTOCOL.md), relative to
   * the text after the room's previous change; null when not (yet) known.
   */
  delta: string | null
}

/** A change as the store keeps it. */
export interface StoredChange extends ChangeInfo {
  /** The room's change id: 1 for its first change, one more for each after it, in commit order. */
  id: number
  /**
   * Read only when asked (`changesSince` with `updates`): the change's Yjs update, as appended;
   * null for a change stored before the store kept updates (a database from an older version).
   */
  update?: Uint8Array | null
}

/** How `changesSince` reads. */
export interface ChangesReadOptions {
  /** Read each change's update too (`StoredChange.update`); by default only what the feed shows. */
  updates?: boolean
}

/** A stretch of a room's changes (see ChangeStore.changesSince). */
export interface ChangesRead {
  /** The changes asked for, oldest first. */
  changes: StoredChange[]
  /** The oldest change id the room still keeps (null when it keeps none). */
  oldest: number | null
  /** The room's latest change id (0 for a room without changes). */
  latest: number
  /** When the latest change was committed (null without changes). */
  latestAt: number | null
}

/** How many changes a room keeps at least: its last `count`, and all of its last `ms`. */
export interface ChangeRetention {
  count: number
  ms: number
}

/** What a store keeps when not told otherwise (PROTOCOL.md: the last 1,000 changes or 24 hours). */
export const DEFAULT_CHANGE_RETENTION: ChangeRetention = { count: 1_000, ms: 24 * 60 * 60 * 1000 }

/**
 * Where rooms' changes are numbered and kept for the change feed and for rebasing edits (see
 * PROTOCOL.md, "The document over HTTP"). Part of every DocStore: `append` numbers each entry in the
 * transaction that stores it, so ids follow commit order across instances and survive restarts, and
 * compaction of the log does not touch them. Each change keeps its entry's update beside its delta
 * (the same bytes the log holds until a compaction merges them): with other instances a sequencer
 * that skipped changes replays them in id order to compute their exact deltas. A room keeps a contiguous run of its changes, from
 * `oldest` to `latest`.
 *
 * Pruning runs in the store's own `compact(room)` (the relay compacts a room as its log grows), with
 * the retention the store was opened with (`changeRetention` in each backend's options, by default
 * DEFAULT_CHANGE_RETENTION), in the same transaction as the compaction where the backend allows.
 */
export interface ChangeStore {
  /**
   * The changes of `room` with ids above `after`, oldest first, at most `limit` of them (0: none,
   * only the bounds); with the oldest id kept and the latest id, read consistently with them. With
   * `updates`, each with its Yjs update (a sequencer replays them, rooms/sequencer.ts).
   */
  changesSince(room: string, after: number, limit: number, options?: ChangesReadOptions): Promise<ChangesRead>
  /** Sets the delta of a change stored without one (another instance computed it); no-op otherwise. */
  setChangeDelta(room: string, id: number, delta: string): Promise<void>
  /**
   * Drops `room`'s oldest changes that `retention` no longer requires at `now`: those that are
   * neither among its last `count` nor committed after `now - ms`; the latest change is always kept
   * (it carries the numbering on), and what is kept stays contiguous. Resolves with how many it dropped.
   */
  pruneChanges(room: string, retention: ChangeRetention, now: number): Promise<number>
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
export interface DocStore extends PolicyStore, ChangeStore {
  /** The room's versions (history; server/store/history-store.ts). */
  readonly versions: VersionStore
  /** Which identity each Yjs client id of a room writes for (authorship). */
  readonly authors: AuthorStore
  /**
   * Resolves once the store can serve requests; rejects (with a StoreOpenError) if it cannot open.
   * Already resolved for stores that open synchronously. The server awaits it before listening.
   */
  readonly ready: Promise<void>
  /** Reads everything stored for `room` (an unknown room reads as empty). */
  load(room: string): Promise<StoredRoom>
  /**
   * Appends all entries atomically: after it resolves every entry is durable, after it rejects none
   * is. Each entry is a change of its room: resolves with the change id each got, in entry order
   * (per room: the room's latest id plus one, then the next, in entry order). An entry without
   * `change` is numbered too, stored as committed at the store's clock, author and delta null.
   */
  append(entries: readonly LogEntry[]): Promise<number[]>
  /**
   * Atomically replaces `room`'s snapshot and log with one snapshot; resolves with its size in bytes.
   * With `snapshot` the caller guarantees it contains every update appended to `room` so far;
   * without, the store merges what it holds (`mergeStoredRoom`), off the caller's thread where it can,
   * and the caller may go on appending meanwhile: the store replaces only what it merged. Leaves
   * the room's changes alone but for pruning them to the store's retention (see ChangeStore).
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
