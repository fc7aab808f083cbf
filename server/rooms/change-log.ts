/**
 * What a room offers about its numbered changes (PROTOCOL.md, "The document over HTTP"): the change
 * feed, the HTTP reads and the rebasing of HTTP edits build on this surface, `Room.changes`.
 *
 * Every update a room commits is a change, numbered by the store (1, 2, … per room, in commit
 * order, surviving restarts), with what it did to the room's text as a delta. The room keeps the
 * text as of its latest change, the last changes in memory, and the deltas of what it applied but
 * has not yet committed; listeners hear each change once it is durable, in id order. The rules for
 * one instance and for several are in room-changes.ts, which implements it.
 */

import type { TextDelta } from '../../shared/protocol/text-delta.ts'

export type { TextDelta, TextRun } from '../../shared/protocol/text-delta.ts'

/**
 * The `Y.Text` a room's text is: the one the editor binds (`TEXT_NAME` in client/src/editor.ts;
 * tests/room-changes.test.ts checks they agree).
 */
export const ROOM_TEXT = 'codemirror'

/** One committed change, numbered. */
export interface SequencedChange {
  /** Its change id: 1 for the room's first change, one more for each after it, in commit order. */
  readonly id: number
  /** When it was committed, in ms since the epoch. */
  readonly at: number
  /** Who made it (a display name), where known. */
  readonly author: string | null
  /** What it did to the text as it stood after change `id - 1` (empty: the text did not change). */
  readonly delta: TextDelta
}

/** Hears a committed change. */
export type ChangeListener = (change: SequencedChange) => void

/** A room's changes: `Room.changes`. */
export interface RoomChangeLog {
  /** The latest committed change's id: 0 for a room without changes. */
  readonly latestId: number
  /** When the latest change was committed (null for a room without changes). */
  readonly latestAt: number | null
  /** The room's text at `latestId`. */
  text(): string
  /** `text().length`, in UTF-16 code units. */
  readonly length: number
  /**
   * The committed changes with ids above `after`, oldest first, from memory (the room keeps its last
   * `feedKeepChanges`); null when memory does not reach back that far (read the store then). Empty
   * when `after >= latestId`.
   */
  since(after: number): readonly SequencedChange[] | null
  /**
   * The deltas of what the room applied to its document but has not yet committed, in the order
   * applied: the document's text is `text()` with these applied in turn.
   */
  pending(): readonly TextDelta[]
  /**
   * The code units of the document's current text at `indexes` (NaN past the end), read without
   * copying the text: a short walk near where people edit (text-deltas.ts `unitsAt`).
   */
  unitsAt(indexes: readonly number[]): number[]
  /**
   * Hears each change committed from now on once it is durable, in id order, once per listener (a
   * listener that throws is logged and kept). Returns the unsubscribe.
   */
  subscribe(listener: ChangeListener): () => void
}
