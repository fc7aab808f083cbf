/**
 * The difference between two texts as runs (PROTOCOL.md, "History and authorship"): what turns the
 * old text into the new one, left to right, in UTF-16 code units.
 *
 *   runs = run*        run = {equal: n}            the next n units of the old text stay
 *                          | {delete: "text"}      this text of the old one goes
 *                          | {insert: "text"}      this text comes
 *
 * Between two equal runs a delete comes before an insert, and no run boundary falls between the two
 * halves of a surrogate pair in either text (the library diffs code units; where it splits a pair,
 * the half on the equal side is moved into both the delete and the insert).
 *
 * Computed with diff-match-patch (its ES rewrite, diff-match-patch-es): common prefix and suffix
 * first, then for texts over 100 units a line-level diff whose changed lines are diffed by
 * character, then a clean-up (`DiffCleanup`: whole words for people, or only word-aligned for
 * mapping positions). It is bounded in time: past
 * `DIFF_DEADLINE_MS` the library stops searching and diffs what is left as one replacement, so a
 * diff of two 1 MB texts with changes everywhere stays correct, only less fine, and never holds the
 * event loop much past the deadline. The clean-up is skipped for diffs of more than
 * `MAX_CLEANUP_RUNS` runs (its cost grows faster than the runs).
 */

import {
  DIFF_DELETE,
  DIFF_EQUAL,
  DIFF_INSERT,
  type Diff,
  diffCleanupSemantic,
  diffCleanupSemanticLossless,
  diffMain,
} from 'diff-match-patch-es'
import type { TextOp } from '../../shared/ot/index.ts'
import { isHighSurrogate, isLowSurrogate } from '../../shared/ot/rebase.ts'

/** One run of a diff: keep, remove or add text (lengths in UTF-16 units). */
export type DiffRun = { readonly equal: number } | { readonly delete: string } | { readonly insert: string }

/** The runs that turn one text into another, and how many units they insert and delete. */
export interface TextDiff {
  readonly runs: DiffRun[]
  readonly inserted: number
  readonly deleted: number
}

/** How long the library may search for a fine diff, in ms, before it settles for a coarser one. */
export const DIFF_DEADLINE_MS = 25

/** Diffs with more runs than this skip the semantic clean-up. */
export const MAX_CLEANUP_RUNS = 20_000

/**
 * How a diff is cleaned up: `semantic` (for people to read) folds short unchanged stretches between
 * changes into the changes, so a diff reads as whole words replaced; `lossless` (for mapping
 * positions, as a partial restore does) keeps every unchanged stretch, only moving its ends to word
 * boundaries.
 */
export type DiffCleanup = 'semantic' | 'lossless'

export interface DiffOptions {
  /** How long the library may search (ms); default DIFF_DEADLINE_MS. */
  readonly deadlineMs?: number
  /** Default `semantic`. */
  readonly cleanup?: DiffCleanup
}

/** The runs turning `from` into `to` (see the module comment). */
export function diffTexts(from: string, to: string, options: DiffOptions = {}): TextDiff {
  const diffs = diffMain(from, to, { diffTimeout: (options.deadlineMs ?? DIFF_DEADLINE_MS) / 1000 })
  if (diffs.length <= MAX_CLEANUP_RUNS) {
    if (options.cleanup === 'lossless') diffCleanupSemanticLossless(diffs)
    else diffCleanupSemantic(diffs)
  }
  return toRuns(keepPairsWhole(groupChanges(diffs)))
}

/** A diff as alternating parts: unchanged text, and a replacement (either side may be empty). */
type Part = { equal: string } | { delete: string; insert: string }

/** The library's diff as parts: adjacent deletes and inserts joined into one replacement. */
function groupChanges(diffs: readonly Diff[]): Part[] {
  const parts: Part[] = []
  let change: { delete: string; insert: string } | null = null
  for (const [op, text] of diffs) {
    if (text === '') continue
    if (op === DIFF_EQUAL) {
      change = null
      const last = parts[parts.length - 1]
      if (last && 'equal' in last) last.equal += text
      else parts.push({ equal: text })
      continue
    }
    if (!change) {
      change = { delete: '', insert: '' }
      parts.push(change)
    }
    if (op === DIFF_DELETE) change.delete += text
    else if (op === DIFF_INSERT) change.insert += text
  }
  return parts
}

/**
 * Moves surrogate halves out of unchanged text into the replacements beside it where a boundary
 * would split a pair: a high half ending the text before a replacement, a low half starting the
 * text after one. Unchanged text left empty joins its two neighbours.
 */
function keepPairsWhole(parts: Part[]): Part[] {
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if ('equal' in part) continue
    const before = parts[i - 1]
    if (before && 'equal' in before && isHighSurrogate(before.equal.charCodeAt(before.equal.length - 1))) {
      const half = before.equal.slice(-1)
      before.equal = before.equal.slice(0, -1)
      part.delete = half + part.delete
      part.insert = half + part.insert
    }
    const after = parts[i + 1]
    if (after && 'equal' in after && isLowSurrogate(after.equal.charCodeAt(0))) {
      const half = after.equal[0]
      after.equal = after.equal.slice(1)
      part.delete += half
      part.insert += half
    }
  }
  const kept: Part[] = []
  for (const part of parts) {
    if ('equal' in part && part.equal === '') continue
    const last = kept[kept.length - 1]
    if (last && !('equal' in last) && !('equal' in part)) {
      last.delete += part.delete
      last.insert += part.insert
    } else kept.push(part)
  }
  return kept
}

function toRuns(parts: readonly Part[]): TextDiff {
  const runs: DiffRun[] = []
  let inserted = 0
  let deleted = 0
  for (const part of parts) {
    if ('equal' in part) {
      runs.push({ equal: part.equal.length })
      continue
    }
    if (part.delete !== '') runs.push({ delete: part.delete })
    if (part.insert !== '') runs.push({ insert: part.insert })
    deleted += part.delete.length
    inserted += part.insert.length
  }
  return { runs, inserted, deleted }
}

/** `runs` applied to `text` (the text they were computed from): the other text. */
export function applyRuns(text: string, runs: readonly DiffRun[]): string {
  let out = ''
  let at = 0
  for (const run of runs) {
    if ('equal' in run) {
      out += text.slice(at, at + run.equal)
      at += run.equal
    } else if ('delete' in run) at += run.delete.length
    else out += run.insert
  }
  return out + text.slice(at)
}

/** `runs` as a text op (shared/ot) on the old text: retains, inserts, deletes carrying their text. */
export function runsToOp(runs: readonly DiffRun[]): TextOp {
  const op: TextOp = []
  for (const run of runs) {
    if ('equal' in run) {
      if (run.equal > 0) op.push(run.equal)
    } else if ('delete' in run) op.push({ d: run.delete })
    else op.push(run.insert)
  }
  if (typeof op[op.length - 1] === 'number') op.pop()
  return op
}

/**
 * Where the range [from, to) of the old text lands in the new one. Text inserted at either end of
 * the range stays outside it; a replacement the range covers whole is inside it (its insert goes
 * with the deleted text it replaced); a range starting or ending inside a deleted stretch keeps
 * that stretch's insert outside. A range whose text was all deleted lands as an empty range where
 * it was. Ranges past the old text are clamped to it.
 */
export function mapRange(runs: readonly DiffRun[], from: number, to: number): { from: number; to: number } {
  const start = mapPosition(runs, from, 'start')
  return { from: start, to: Math.max(start, mapPosition(runs, Math.max(from, to), 'end')) }
}

/**
 * Position `at` of the old text in the new one, as a range's `start` or `end` (see mapRange): at a
 * run boundary, a start is placed after text inserted there unless a deleted stretch follows, an
 * end before it unless a deleted stretch ends there.
 */
function mapPosition(runs: readonly DiffRun[], at: number, side: 'start' | 'end'): number {
  let old = 0
  let now = 0
  /** The old text's position where the last delete ended, while the insert after it is read. */
  let deleteEnd = -1
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i]
    if ('equal' in run) {
      deleteEnd = -1
      if (side === 'start' ? at < old + run.equal : at <= old + run.equal) return now + (at - old)
      old += run.equal
      now += run.equal
    } else if ('delete' in run) {
      const end = old + run.delete.length
      const next = runs[i + 1]
      const insert = next && 'insert' in next ? next.insert.length : 0
      if (side === 'start' && at === old) return now
      if (at > old && at < end) return side === 'start' ? now + insert : now
      if (side === 'end' && at === old) return now
      old = end
      deleteEnd = end
    } else {
      // Text inserted here; with no deleted stretch ending at `at` an end stays before it.
      if (side === 'end' && at === old && deleteEnd !== old) return now
      deleteEnd = -1
      now += run.insert.length
    }
  }
  return now
}
