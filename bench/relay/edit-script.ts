/**
 * Where the load generator's clients edit: every client of a room edits the room's one shared text
 * (named as the browser client names it) by replaying a real editing trace from
 * tests/fixtures/traces, each client from its own starting point in the trace.
 *
 * A trace patch is mapped onto the shared text, which is shorter than the trace's own text and is
 * being edited by the other clients at the same time, by the kind of move the trace's author made:
 *
 *   continuation (the patch starts where the previous one ended)  -> at the client's cursor
 *   small move (|distance| <= NEAR_MOVE characters)               -> cursor + distance, clamped
 *   jump (anything farther, and a client's first edit)            -> the same relative place in the text
 *
 * Deletes are clamped to the characters after the position. The cursor is kept by the generator as
 * a Yjs relative position, so other clients' edits move it as they would move an editor's cursor.
 * The inserted text is the trace's text; the generator puts its send-time marker in front of it.
 *
 * Beside the trace, uniform-random positions (`positions: 'uniform'`, ./generator.ts): each edit
 * either inserts about UNIFORM_INSERT_CHARS letters at a position drawn uniformly from the whole
 * shared text, or (UNIFORM_DELETE_SHARE of them) deletes up to that many characters from one; every
 * choice comes from a PRNG seeded with the client's index, so a run's edits replay exactly.
 */
import * as prng from 'lib0/prng'

/** The shared text every Tandem client edits: `TEXT_NAME` in client/src/editor.ts. */
export const SHARED_TEXT = 'codemirror'

/** The trace the benchmark replays: a blog post written in a text editor (prose, like Tandem's markdown). */
export const TRACE_NAME = 'seph-blog1'

/** Where the clients edit: replaying the trace's positions, or uniformly random ones. */
export type Positions = 'trace' | 'uniform'

/** Characters a uniform-random insert holds, on average (18 to 30, before the generator's marker). */
export const UNIFORM_INSERT_CHARS = 24

/** Share of uniform-random edits that delete (1 to UNIFORM_INSERT_CHARS characters) instead of inserting. */
export const UNIFORM_DELETE_SHARE = 0.2

/** Farthest cursor move, in characters, that is replayed as a move rather than a jump. */
export const NEAR_MOVE = 32

/** A sequential trace flattened to one entry per patch (what crosses the IPC channel to the generator). */
export interface EditScript {
  name: string
  /** Position of each patch in the trace's own text. */
  positions: Int32Array
  /** Characters each patch deletes. */
  deletes: Int32Array
  /** Text each patch inserts ('' for a pure delete). */
  inserts: string[]
  /** Length of the trace's own text before each patch. */
  lengths: Int32Array
}

/** One edit, placed in the shared text. */
export interface PlacedEdit {
  index: number
  deleteCount: number
  insert: string
}

type Patch = [number, number, string]

/** Flattens a sequential trace's transactions (as loaded by tests/helpers/traces.ts) into an EditScript. */
export function editScript(
  name: string,
  trace: { startContent: string; txns: { patches: Patch[] }[] },
): EditScript {
  const patches = trace.txns.flatMap((txn) => txn.patches)
  const script: EditScript = {
    name,
    positions: new Int32Array(patches.length),
    deletes: new Int32Array(patches.length),
    inserts: new Array<string>(patches.length),
    lengths: new Int32Array(patches.length),
  }
  let length = trace.startContent.length
  patches.forEach(([position, deleteCount, insert], i) => {
    script.positions[i] = position
    script.deletes[i] = deleteCount
    script.inserts[i] = insert
    script.lengths[i] = length
    length += insert.length - deleteCount
  })
  return script
}

/**
 * Places patch `i` of `script` in a shared text of `textLength` characters, given the client's
 * cursor there (null before its first edit). `first` marks the first patch a client replays.
 */
export function placeEdit(
  script: EditScript,
  i: number,
  cursor: number | null,
  textLength: number,
  first: boolean,
): PlacedEdit {
  const position = script.positions[i]
  let index: number
  if (first || cursor === null || i === 0) {
    index = proportional(position, script.lengths[i], textLength)
  } else {
    const previousEnd = script.positions[i - 1] + script.inserts[i - 1].length
    const move = position - previousEnd
    index =
      Math.abs(move) <= NEAR_MOVE
        ? Math.min(textLength, Math.max(0, cursor + move))
        : proportional(position, script.lengths[i], textLength)
  }
  return { index, deleteCount: Math.min(script.deletes[i], textLength - index), insert: script.inserts[i] }
}

function proportional(position: number, traceLength: number, textLength: number): number {
  if (traceLength <= 0) return textLength
  return Math.min(textLength, Math.round((position / traceLength) * textLength))
}

/** A client's starting patch: spread evenly over the trace by a multiplicative hash of its index. */
export function startingPatch(script: EditScript, clientIndex: number): number {
  return Math.floor((((clientIndex * 2654435761) % 4294967296) / 4294967296) * script.positions.length)
}

/**
 * A uniform-random edit of a shared text of `textLength` characters: a delete (UNIFORM_DELETE_SHARE
 * of the time, never of an empty text) or an insert of 18 to 30 letters, at a uniformly random place.
 */
export function uniformEdit(random: prng.PRNG, textLength: number): PlacedEdit {
  if (textLength > 0 && prng.real53(random) < UNIFORM_DELETE_SHARE) {
    const index = prng.uint32(random, 0, textLength - 1)
    const deleteCount = Math.min(textLength - index, prng.uint32(random, 1, UNIFORM_INSERT_CHARS))
    return { index, deleteCount, insert: '' }
  }
  const spread = UNIFORM_INSERT_CHARS >> 2
  const insert = prng.word(random, UNIFORM_INSERT_CHARS - spread, UNIFORM_INSERT_CHARS + spread)
  return { index: prng.uint32(random, 0, textLength), deleteCount: 0, insert }
}
