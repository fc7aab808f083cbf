/**
 * The change feed's text deltas (shared/protocol/text-delta.ts), read and applied. Every N and
 * index counts UTF-16 code units, as JavaScript strings and DOM Text nodes do, so a delta applies to
 * a string (slices) and to a Text node (`insertData`/`deleteData`) alike.
 */

import type { TextDelta, TextRun } from '../../../shared/protocol/text-delta.ts'

export type { TextDelta, TextRun }

/** A delta that runs past the end of the text it is applied to: the reader has lost track. */
export class DeltaDoesNotFitError extends Error {
  override name = 'DeltaDoesNotFitError'
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

/** `value` as a delta, or null when it is not one (a run that is none of the three, a bad count). */
export function parseDelta(value: unknown): TextDelta | null {
  if (!Array.isArray(value)) return null
  const runs: TextRun[] = []
  for (const run of value as unknown[]) {
    if (typeof run !== 'object' || run === null) return null
    const r = run as Record<string, unknown>
    const kinds = ('retain' in r ? 1 : 0) + ('delete' in r ? 1 : 0) + ('insert' in r ? 1 : 0)
    if (kinds !== 1) return null
    if ('insert' in r) {
      if (typeof r.insert !== 'string') return null
      runs.push({ insert: r.insert })
    } else if ('retain' in r) {
      if (!isCount(r.retain)) return null
      runs.push({ retain: r.retain })
    } else {
      if (!isCount(r.delete)) return null
      runs.push({ delete: r.delete })
    }
  }
  return runs
}

/** Units of the text `delta` reads (retains and deletes): it fits a text at least this long. */
export function deltaBaseLength(delta: TextDelta): number {
  let length = 0
  for (const run of delta) {
    if ('retain' in run) length += run.retain
    else if ('delete' in run) length += run.delete
  }
  return length
}

/** The text `delta` makes of `text`; throws DeltaDoesNotFitError when it runs past its end. */
export function applyDelta(text: string, delta: TextDelta): string {
  if (deltaBaseLength(delta) > text.length) {
    throw new DeltaDoesNotFitError(
      `a delta over ${deltaBaseLength(delta)} units met a text of ${text.length}`,
    )
  }
  const parts: string[] = []
  let index = 0
  for (const run of delta) {
    if ('insert' in run) parts.push(run.insert)
    else if ('retain' in run) {
      parts.push(text.slice(index, index + run.retain))
      index += run.retain
    } else index += run.delete
  }
  parts.push(text.slice(index))
  return parts.join('')
}

/** What a delta edits in place: a DOM Text node (CharacterData) has exactly these. */
export interface EditableText {
  insertData(offset: number, data: string): void
  deleteData(offset: number, count: number): void
}

/**
 * Applies `delta` to `target` in place, edit by edit. The caller checks the fit first (applyDelta on
 * the same text): a Text node throws on an offset past its end, after the edits before it.
 */
export function applyDeltaTo(target: EditableText, delta: TextDelta): void {
  let index = 0
  for (const run of delta) {
    if ('insert' in run) {
      target.insertData(index, run.insert)
      index += run.insert.length
    } else if ('retain' in run) index += run.retain
    else target.deleteData(index, run.delete)
  }
}
