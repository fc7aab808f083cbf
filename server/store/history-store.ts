/**
 * The shapes history and authorship share (PROTOCOL.md, "History and authorship"): a room's
 * versions as the store keeps them, the store seam for them, the identities changes are credited
 * to, and the store seam for the binding of Yjs client ids to identities.
 *
 * A version is the room's text as of one change id. Its content is stored either whole (a
 * checkpoint) or as a text operation (shared/ot `TextOp`, UTF-16 units) from the previous version
 * kept in the room, with a checkpoint whenever the operations since the last one outgrow the text
 * (history/version-chain.ts): storage grows with the edits, not with versions times the document's size.
 * Dropping a version (retention, or a user deleting it) composes its operation into the next one's.
 */
import type { TextOp } from '../../shared/ot/op.ts'

/** How a version came to be. */
export type VersionKind = 'auto' | 'named' | 'restore'

/** One version's facts (without its text). */
export interface VersionInfo {
  /** Per room, 1, 2, … in the order versions are made (never reused after a delete). */
  readonly id: number
  /** When it was made, ms since the epoch. */
  readonly at: number
  /** The change id whose text it is (RoomChangeLog.latestId when it was made). */
  readonly changeId: number
  readonly kind: VersionKind
  /** A user's name for it (named and restore versions; null for automatic ones). */
  readonly name: string | null
  /** Its text's length in UTF-16 code units. */
  readonly length: number
  /** The display names of who made the changes it holds since the version before it, first writer first. */
  readonly authors: readonly string[]
  /** Who made it (named and restore versions: the caller's display name; null for automatic ones). */
  readonly by: string | null
  /** The version a `restore` version brought back (null otherwise). */
  readonly restoredFrom: number | null
}

/**
 * A version's stored content: its whole text, or the operation from the version kept before it.
 * `base`, when given with an op, is the id of the version the op applies to: a store refuses the
 * write (StaleVersionBaseError, version-checks.ts) when that is no longer the version kept before it
 * (another instance added or removed versions meanwhile). Stores keep the op without it.
 */
export type VersionContent = { readonly text: string } | { readonly op: TextOp; readonly base?: number }

/** A version as the store returns it for rebuilding texts. */
export interface StoredVersion extends VersionInfo {
  readonly content: VersionContent
}

/** What a new version is, before the store numbers it. */
export type NewVersion = Omit<VersionInfo, 'id'>

/**
 * The store's half for history (SQLite, PostgreSQL, memory). Versions are per room; ids come
 * from the store, so several instances sharing it never make two versions with one id.
 */
export interface VersionStore {
  /**
   * Adds a version after the room's latest (its content relative to that latest one, or whole).
   * Resolves with the stored version, or null when the room's latest version already stands at
   * `version.changeId` or later and `version.kind` is 'auto' (another instance made it first).
   */
  addVersion(room: string, version: NewVersion, content: VersionContent): Promise<VersionInfo | null>
  /** The room's versions, oldest first (facts only). */
  listVersions(room: string): Promise<VersionInfo[]>
  /**
   * What rebuilding version `id`'s text needs: the versions from the latest checkpoint at or before
   * it up to it, oldest first, with their contents (the first one whole). Empty when no such version.
   */
  versionChain(room: string, id: number): Promise<StoredVersion[]>
  /**
   * Removes versions `ids` of `room` in one transaction, rewriting what the removal requires: the
   * next kept version's content becomes the composition (or its whole text, `rewritten`) so every
   * kept version's text stays the same. Resolves with how many were removed.
   */
  removeVersions(
    room: string,
    ids: readonly number[],
    rewritten: ReadonlyMap<number, VersionContent>,
  ): Promise<number>
}

/**
 * Who a change is credited to. `key` identifies them durably: `token:<jti>` for a token's holder
 * (access control on), `user:<id>` for the editor's per-browser id, `name:<name>` for a stock client
 * known only by its presence name or an HTTP caller's Tandem-Author, `anonymous` otherwise.
 */
export interface AuthorIdentity {
  readonly key: string
  /** Display name (latest known). */
  readonly name: string
  /** Presence colour (#rrggbb) when known. */
  readonly color: string | null
}

/** The store's half for authorship: which identity each Yjs client id of a room writes for. */
export interface AuthorStore {
  /**
   * Binds `clientId` to `identity` in `room` unless it is bound already; resolves with the identity
   * key it is bound to (the given one, or the earlier binding's: another identity's means refuse).
   * Also records the identity's latest name and colour.
   */
  bindClient(room: string, clientId: number, identity: AuthorIdentity): Promise<string>
  /** Every binding of `room`: client id to identity key, and each identity's latest name and colour. */
  roomAuthors(
    room: string,
  ): Promise<{ clients: Map<number, string>; identities: Map<string, AuthorIdentity> }>
}
