/**
 * What a room needs of a connection: an id, whether it opted in to Tandem's extensions, the
 * awareness client ids it introduced, and a way to send it a frame. `Connection` (ws/) is the one
 * implementation; tests use small fakes.
 */

import type { TokenHolder } from '../authorship/identity.ts'

/**
 * The awareness client ids a member introduced: the part of a Set rooms use (a Set will do; a
 * connection keeps a smaller one, ws/awareness-ids.ts).
 */
export interface AwarenessIds extends Iterable<number> {
  readonly size: number
  has(id: number): boolean
  add(id: number): unknown
  delete(id: number): boolean
  clear(): void
}

/** What a room needs of a connection. */
export interface RoomMember {
  readonly id: number
  /** Client opted in to Tandem's extensions (`saved`, `storage`) with `?tandem=1`. */
  readonly wantsSaved: boolean
  /** Awareness client ids this connection introduced (removed for everyone when it leaves). */
  readonly awarenessIds: AwarenessIds
  /** The token it was admitted with (its holder is who it writes as, authorship/identity.ts); null: none. */
  readonly token?: TokenHolder | null
  send(message: Uint8Array): void
}
