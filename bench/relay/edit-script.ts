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
 */

/** The shared text every Tandem client edits: `TEXT_NAME` in client/src/editor.ts. */
export const SHARED_TEXT = 'codemirror'

/** The trace the benchmark replays: a blog post written in a text editor (prose, like Tandem's markdown). */
export const TRACE_NAME = 'seph-blog1'

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
