/**
 * Bringing a version back (PROTOCOL.md, "History and authorship"): a new forward change, never a
 * rewrite of what is stored.
 *
 *   full     the diff of today's text against the version's, applied: the text becomes the version's
 *   partial  [from, to) of the version's text, mapped onto today's text through the diff version ->
 *            today (text-diff.ts `mapRange`), replaces what it maps to; everything else stays
 *
 * The diff is computed against the room's text at its latest change (off the event loop when long,
 * text-differ.ts); the edit is then carried over whatever changed meanwhile (the changes since, and
 * those applied but not yet committed) and applied as ONE text edit through `room.editText`, inside
 * its synchronous step, so nothing changes the document in between (as http/text-edit.ts does).
 * A concurrent change survives as any concurrent edit does. It resolves once the change is durable;
 * then the versioner records a `restore` version of it. When memory no longer holds the changes
 * since the diff's text (the room's change sequence started again), the diff is made again, at most
 * MAX_ATTEMPTS times (RestoreBusyError then); an edit that, carried over, would split a surrogate
 * pair (a concurrent writer split one) is refused whole (RestoreConflictError), nothing written.
 */
import type * as Y from 'yjs'
import {
  deltaToOp,
  normalize,
  opFitProblem,
  opToDelta,
  splitsSurrogatePair,
  type TextOp,
  transform,
} from '../../shared/ot/index.ts'
import { displayName, type WriteAuthor } from '../authorship/identity.ts'
import type { Meter } from '../limits/text-walk.ts'
import type { RoomChangeLog } from '../rooms/change-log.ts'
import type { VersionInfo } from '../store/history-store.ts'
import { type DiffCleanup, mapRange, runsToOp, type TextDiff } from './text-diff.ts'

/** What a restore needs of a room (rooms/room.ts `Room`, as http/text-edit.ts edits it). */
export interface RestorableRoom {
  readonly changes: RoomChangeLog
  editText(edit: (text: Y.Text) => void, author: WriteAuthor, inserted: number): Promise<number>
}

/** What a restore needs of the room's versions (history/versioner.ts `Versioner`). */
export interface RestoreRecorder {
  /** Records a `restore` version of the current text, brought back from `from` by `by`. */
  recordRestore(from: VersionInfo, by: string | null): Promise<VersionInfo>
}

/** Diffs two texts, cleaned up as asked (text-differ.ts `TextDiffer`). */
export type Differ = (from: string, to: string, cleanup: DiffCleanup) => Promise<TextDiff>

/** A range of a version's text: both ends in UTF-16 units, `from <= to`. */
export interface RestoreRange {
  readonly from: number
  readonly to: number
}

/** A range that is not one of the version's text (past its end, reversed, inside a surrogate pair). */
export class RestoreRangeError extends Error {
  override readonly name = 'RestoreRangeError'
}

/** The room's change sequence kept starting again under the restore: try again later. */
export class RestoreBusyError extends Error {
  override readonly name = 'RestoreBusyError'
}

/** The restore's edit, carried over concurrent changes, no longer fits today's text (nothing written). */
export class RestoreConflictError extends Error {
  override readonly name = 'RestoreConflictError'
}

/** Diffs made for one restore, at most (each after memory lost the changes since the last). */
export const MAX_ATTEMPTS = 3

/** What a restore made: its change (the latest id when nothing changed) and its version. */
export interface RestoreResult {
  readonly changeId: number
  readonly version: VersionInfo
}

export interface RestoreOptions {
  readonly differ: Differ
  /** Runs the edit's synchronous part, charging the text items it walks (http/text-edit.ts). */
  readonly meter?: Meter
}

/**
 * Brings back `version` (whose text is `text`), whole or only `range` of it, as a change credited
 * to `author` (its display name is the restore version's `by`), then records the restore version. Throws RestoreRangeError for a bad range, and what
 * `room.editText` rejects with (quota, unloading).
 */
export async function restoreVersion(
  room: RestorableRoom,
  versions: RestoreRecorder,
  version: VersionInfo,
  text: string,
  range: RestoreRange | null,
  author: WriteAuthor,
  options: RestoreOptions,
): Promise<RestoreResult> {
  if (range) checkRange(text, range)
  const meter = options.meter ?? ((apply) => apply())
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const at = room.changes.latestId
    const op = await restoreOp(room.changes.text(), text, range, options.differ)
    const inserted = op.reduce<number>((n, c) => n + (typeof c === 'string' ? c.length : 0), 0)
    let stale = false
    let conflict: string | null = null
    const changeId = await meter(() =>
      room.editText(
        (yText: Y.Text) => {
          const carried = carryOver(room, op, at)
          if (carried === null) stale = true
          else if (carried.length > 0) {
            conflict = opFitProblem(carried, yText.length, (indexes) => room.changes.unitsAt(indexes))
            if (conflict === null) yText.applyDelta(opToDelta(carried))
          }
        },
        author,
        inserted,
      ),
    )
    if (conflict !== null) throw new RestoreConflictError(`${conflict}; restore again`)
    // Memory no longer held the changes since the diff's text (a restart of the sequence): again.
    if (stale) continue
    return { changeId, version: await versions.recordRestore(version, displayName(author)) }
  }
  throw new RestoreBusyError(
    `the room's changes kept moving under the restore (${MAX_ATTEMPTS} tries); try again`,
  )
}

/** The op turning `current` into what the restore makes of it. */
async function restoreOp(
  current: string,
  text: string,
  range: RestoreRange | null,
  differ: Differ,
): Promise<TextOp> {
  if (!range) return runsToOp((await differ(current, text, 'semantic')).runs)
  // Every unchanged stretch kept, so the range lands as close to its text as the diff can tell.
  const { runs } = await differ(text, current, 'lossless')
  const mapped = mapRange(runs, range.from, range.to)
  const brought = text.slice(range.from, range.to)
  // Nothing to do when the range's text is already what it maps to.
  if (current.slice(mapped.from, mapped.to) === brought) return []
  return normalize([mapped.from, { d: current.slice(mapped.from, mapped.to) }, brought])
}

/**
 * `op`, made on the text at change `at`, carried over the changes since and those pending (the
 * op goes after them where both insert at one place); null when memory no longer holds them.
 */
function carryOver(room: RestorableRoom, op: TextOp, at: number): TextOp | null {
  const { changes } = room
  const since = changes.since(at)
  if (since === null) return null
  let carried = op
  for (const delta of [...since.map((change) => change.delta), ...changes.pending()]) {
    if (carried.length === 0) break
    carried = transform(carried, deltaToOp(delta), 'right')
  }
  return carried
}

/** Throws RestoreRangeError unless `range` is a range of `text` not splitting a surrogate pair. */
function checkRange(text: string, { from, to }: RestoreRange): void {
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && 0 <= from && from <= to)) {
    throw new RestoreRangeError('from and to must be integers with 0 <= from <= to')
  }
  if (to > text.length) {
    throw new RestoreRangeError(`to ${to} runs past the end of the version's text (${text.length})`)
  }
  for (const at of [from, to]) {
    if (splitsSurrogatePair(text, at)) {
      throw new RestoreRangeError(`${at} splits a surrogate pair of the version's text`)
    }
  }
}
