/**
 * `POST /api/rooms/<room>/text`: from a JSON body to an edit applied to the room's text
 * (PROTOCOL.md, "The document over HTTP").
 *
 *   body = {"index": n, "delete"?: n, "insert"?: string, "base"?: changeId}
 *
 * With `base`, the edit was made to the text at that change: it is rebased (shared/ot/rebase.ts)
 * over the deltas of every change committed since (from the room's memory, else the store up to
 * the room's latest id, handing over to memory at a change stored without its delta yet; 409
 * `base_expired` when neither reaches back), then over what the room applied but has not yet
 * committed (`changes.pending()`), which gives the edit against the document as it is. That last
 * step, the checks against the text and the Y.Text delete/insert all run in one synchronous step
 * inside `room.editText`, so nothing changes the document in between. Without `base` the edit is
 * made to that same current text.
 *
 * Checked: integers in range, a well-formed string (no lone surrogate: Yjs would write it to the
 * wire as U+FFFD, and the text would differ between here and every other copy), the range inside
 * the text at `base`, no index splitting a surrogate pair (400 `bad_edit`).
 */
import type * as Y from 'yjs'
import {
  type Delta,
  lengthChange,
  opFitProblem,
  opToDelta,
  type RebasedEdit,
  rebaseEdit,
  type TextEdit,
} from '../../shared/ot/index.ts'
import type { WriteAuthor } from '../authorship/identity.ts'
import type { Meter } from '../limits/text-walk.ts'
import type { RoomChangeLog } from '../rooms/change-log.ts'
import type { ChangesRead } from '../store/index.ts'
import { ApiError } from './api-error.ts'

/** A parsed text edit: the edit, and the change id it was made at (null: the current text). */
export interface TextEditRequest {
  readonly edit: TextEdit
  readonly base: number | null
}

/** What a text edit needs of a room (rooms/room.ts `Room`). */
export interface EditableRoom {
  readonly name: string
  readonly changes: RoomChangeLog
  /**
   * Runs `edit` on the room's text in one transaction; resolves with the change id once durable.
   * `inserted` (the units it inserts) is checked against the room's quota first.
   */
  editText(edit: (text: Y.Text) => void, author: WriteAuthor, inserted: number): Promise<number>
}

/** Where changes older than the room's memory are read (the store's `changesSince`). */
export interface ChangeHistory {
  changesSince(room: string, after: number, limit: number): Promise<ChangesRead>
}

/** What a text edit became: its change id, and where its insert landed in the text at that id. */
export interface TextEditResult {
  readonly changeId: number
  readonly index: number
}

/** A surrogate not paired with its other half (with the `u` flag, a pair reads as one code point). */
const LONE_SURROGATE = /\p{Cs}/u

/** Changes read from the store at a time. */
const STORE_PAGE = 1_000

/** Reads the body's fields; throws ApiError 400 (`bad_request` for types, `bad_edit` for the insert). */
export function parseTextEdit(body: unknown): TextEditRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'bad_request', 'the body must be a JSON object')
  }
  const fields = body as Record<string, unknown>
  const index = count(fields.index, 'index')
  const deleted = fields.delete === undefined ? 0 : count(fields.delete, 'delete')
  const insert = fields.insert ?? ''
  if (typeof insert !== 'string') throw new ApiError(400, 'bad_request', 'insert must be a string')
  if (LONE_SURROGATE.test(insert)) {
    throw new ApiError(400, 'bad_edit', 'insert holds a lone surrogate (half of a character)')
  }
  const base = fields.base === undefined || fields.base === null ? null : count(fields.base, 'base')
  return { edit: { index, delete: deleted, insert }, base }
}

function count(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ApiError(400, 'bad_request', `${name} must be a non-negative integer`)
  }
  return value
}

/**
 * Applies `request` to `room` on behalf of `author` and resolves once it is durable; throws
 * ApiError 400 (`bad_request`: `base` ahead of the room; `bad_edit`) or 409 (`base_expired`).
 */
export async function applyTextEdit(
  room: EditableRoom,
  history: ChangeHistory,
  request: TextEditRequest,
  author: WriteAuthor,
  meter: Meter = (apply) => apply(),
): Promise<TextEditResult> {
  const { base } = request
  if (
    base !== null &&
    base > room.changes.latestId &&
    !(await reaches(room.changes, base, BASE_AHEAD_WAIT_MS))
  ) {
    throw new ApiError(
      400,
      'bad_request',
      `base ${base} is ahead of the room's latest change (${room.changes.latestId})`,
    )
  }
  // What memory no longer holds is read from the store first (a wait); the rest is read in the
  // synchronous step inside editText, with the document as it then is.
  const stored: Delta[] = []
  let at = base
  for (;;) {
    while (at !== null && room.changes.since(at) === null) at = await readStored(room, history, at, stored)
    const placed: { outcome?: Placement } = {}
    const changeId = await meter(() =>
      room.editText(
        (text) => {
          const outcome = place(room, request, text, at, stored)
          placed.outcome = outcome
          if (outcome.kind === 'placed') text.applyDelta(opToDelta(outcome.rebased.op))
        },
        author,
        request.edit.insert.length,
      ),
    )
    const { outcome } = placed
    if (!outcome) throw new Error('editText did not run the edit')
    if (outcome.kind === 'placed') return { changeId, index: outcome.rebased.index }
    if (outcome.kind === 'refused') throw outcome.refusal
    // Memory moved on past what the store read reached while it was read: read on from there.
  }
}

/**
 * How long an edit waits for a `base` this instance has not heard yet: read on another instance,
 * whose change reaches this one over the bus a moment later (the sequencer restarts from the store
 * when an id is 1 s late, so this covers that too).
 */
export const BASE_AHEAD_WAIT_MS = 3_000

/** Resolves true once `changes` reaches change `id`, false when `ms` pass first. */
function reaches(changes: RoomChangeLog, id: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (reached: boolean) => {
      clearTimeout(timer)
      unsubscribe()
      resolve(reached)
    }
    const timer = setTimeout(() => done(changes.latestId >= id), ms)
    const unsubscribe = changes.subscribe(() => {
      if (changes.latestId >= id) done(true)
    })
  })
}

/** Where an edit stands against the document now: placed, refused, or memory moved on meanwhile. */
type Placement =
  | { kind: 'placed'; rebased: RebasedEdit }
  | { kind: 'refused'; refusal: ApiError }
  | { kind: 'stale' }

/**
 * Appends to `out` the deltas of `room`'s stored changes after `after` (a page of them, up to the
 * room's latest id: past it they are pending); returns the id of the last one read. A change the
 * store holds without a delta (another instance's, its delta not yet written) ends the page: memory
 * may have it from there. Throws 409 `base_expired` when neither keeps the next one.
 */
async function readStored(room: EditableRoom, history: ChangeHistory, after: number, out: Delta[]) {
  const upTo = room.changes.latestId
  const read = await history.changesSince(room.name, after, Math.min(STORE_PAGE, upTo - after))
  const expired = () =>
    new ApiError(409, 'base_expired', `the changes after ${after} are no longer kept; read the text again`)
  const first = read.changes[0]
  if (read.oldest === null || read.oldest > after + 1 || first?.id !== after + 1 || first.delta === null) {
    throw expired()
  }
  let at = after
  for (const change of read.changes) {
    if (change.id !== at + 1) throw expired()
    if (change.delta === null) break
    out.push(JSON.parse(change.delta) as Delta)
    at = change.id
  }
  return at
}

/**
 * Places the edit on `text` as it is now: runs inside `editText`, synchronously. Without a base it
 * applies as made; with one, over the `stored` deltas (up to change `at`), those memory holds after
 * `at`, then the pending ones.
 */
function place(
  room: EditableRoom,
  request: TextEditRequest,
  text: Y.Text,
  at: number | null,
  stored: readonly Delta[],
): Placement {
  const { changes } = room
  let deltas: Delta[] = []
  if (at !== null) {
    const committed = changes.since(at)
    if (committed === null) return { kind: 'stale' }
    deltas = [...stored, ...committed.map((change) => change.delta), ...changes.pending()]
  }
  const { edit } = request
  const refuse = (problem: string): Placement => ({
    kind: 'refused',
    refusal: new ApiError(400, 'bad_edit', problem),
  })
  const length = text.length - deltas.reduce((n, delta) => n + lengthChange(delta), 0)
  if (edit.index + edit.delete > length) {
    const where = request.base === null ? 'the text' : `the text at ${request.base}`
    return refuse(`index ${edit.index} + delete ${edit.delete} runs past the end of ${where} (${length})`)
  }
  const rebased = rebaseEdit(edit, deltas)
  // Units read near where people edit (the room counts them as its text does: an embed is one),
  // not a copy of the text; a writer pays for the items walked.
  const problem = opFitProblem(rebased.op, text.length, (indexes) => room.changes.unitsAt(indexes))
  return problem ? refuse(problem) : { kind: 'placed', rebased }
}
