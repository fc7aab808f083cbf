/**
 * A room's versions as a chain of contents (PROTOCOL.md, "History and authorship"): pure functions
 * that decide what a new version stores, rebuild a version's text, and rewrite what a removal needs.
 *
 *   chain   = checkpoint op*          a version's text is its latest checkpoint at or before it with
 *                                    every op after it applied in turn, up to the version
 *   content = {text}                  a checkpoint: the whole text
 *           | {op}                    the text op (shared/ot, UTF-16 units, deletes by count) from the
 *                                    version kept before it, composed from the changes' deltas
 *
 * The checkpoint rule: a version is stored whole when there is no version before it (or its text
 * is not known), or when the ops since the latest checkpoint, with its own, would total more bytes
 * than its text (CHECKPOINT_RATIO). So a rebuild reads at most about twice the text, and history
 * grows with the edits: ops cost what was typed, a checkpoint at most what the ops since the last
 * one cost.
 *
 * Removing versions keeps every other version's text: the first version kept after removed ones
 * gets the composition of their ops and its own, or its whole text when the checkpoint it depended
 * on is among the removed.
 */
import { apply } from '../../shared/ot/apply.ts'
import { compose } from '../../shared/ot/compose.ts'
import type { TextOp } from '../../shared/ot/op.ts'
import { type Delta, deltaToOp } from '../../shared/ot/rebase.ts'
import { Rope } from '../../shared/ot/rope.ts'
import type { StoredVersion, VersionContent } from '../store/history-store.ts'
import { encodeContent } from '../store/version-checks.ts'

/**
 * A version is stored whole once the ops since the latest checkpoint would pass this many times its
 * text's bytes. 1 keeps history within 2x of what the ops alone cost (bench/history.ts).
 */
export const CHECKPOINT_RATIO = 1

/** One op with the effect of `ops` in turn, composed pairwise (a balanced tree, not a long fold). */
export function composeAll(ops: readonly TextOp[]): TextOp {
  if (ops.length === 0) return []
  let level = ops.slice()
  while (level.length > 1) {
    const next: TextOp[] = []
    for (let i = 0; i < level.length; i += 2)
      next.push(i + 1 < level.length ? compose(level[i], level[i + 1]) : level[i])
    level = next
  }
  return level[0]
}

/** The op of changes' deltas made in turn (a change that did not touch the text adds nothing). */
export function opOfDeltas(deltas: readonly Delta[]): TextOp {
  return composeAll(deltas.filter((delta) => delta.length > 0).map(deltaToOp))
}

/** Bytes a content takes as stored (UTF-8 of the text or of the op's JSON). */
export function contentBytes(content: VersionContent): number {
  return Buffer.byteLength(encodeContent(content).data)
}

/** Bytes of the ops after the checkpoint in `chain` (versionChain's output). */
export function opBytesSinceCheckpoint(chain: readonly StoredVersion[]): number {
  let bytes = 0
  for (const version of chain) if ('op' in version.content) bytes += contentBytes(version.content)
  return bytes
}

/** What the versioner knows of the room's latest version when it makes the next. */
export interface ChainTip {
  /** The latest version's id (the op's base). */
  readonly id: number
  /** Bytes of the ops stored since the latest checkpoint, up to and including the latest version. */
  readonly opBytes: number
}

/**
 * The text a new version is of, read only when it is stored whole: its size in bytes (UTF-8, or a
 * lower bound such as its UTF-16 length) decides the checkpoint rule.
 */
export interface VersionText {
  readonly bytes: number
  read(): string
}

/** A text already at hand as a VersionText. */
export const textAtHand = (text: string): VersionText => ({
  bytes: Buffer.byteLength(text),
  read: () => text,
})

/**
 * The content of a new version of `text` whose op from `tip` is `op` (null: not known), by the
 * checkpoint rule (`ratio`: CHECKPOINT_RATIO but for benchmarks); with the op bytes since the
 * checkpoint once it is stored.
 */
export function nextContent(
  tip: ChainTip | null,
  op: TextOp | null,
  text: VersionText | string,
  ratio = CHECKPOINT_RATIO,
): { content: VersionContent; opBytes: number } {
  const version = typeof text === 'string' ? textAtHand(text) : text
  if (tip !== null && op !== null) {
    const bytes = Buffer.byteLength(JSON.stringify(op))
    if (tip.opBytes + bytes <= ratio * version.bytes) {
      return { content: { op, base: tip.id }, opBytes: tip.opBytes + bytes }
    }
  }
  return { content: { text: version.read() }, opBytes: 0 }
}

/** The text of the last version of `chain` (versionChain's output: a checkpoint, then ops). */
export function rebuildText(chain: readonly StoredVersion[]): string {
  const rope = startRope(chain)
  for (let i = 1; i < chain.length; i++) applyContent(rope, chain[i])
  return rope.toString()
}

/** Longest run of work `rebuildTextSliced` does before giving the event loop a turn. */
const SLICE_MS = 8

/** `rebuildText`, giving the event loop a turn (setImmediate) every few ms of work. */
export async function rebuildTextSliced(chain: readonly StoredVersion[]): Promise<string> {
  let started = performance.now()
  const rope = startRope(chain)
  for (let i = 1; i < chain.length; i++) {
    if (performance.now() - started > SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve))
      started = performance.now()
    }
    applyContent(rope, chain[i])
  }
  return rope.toString()
}

function startRope(chain: readonly StoredVersion[]): Rope {
  const first = chain[0]
  if (!first || !('text' in first.content))
    throw new Error('a version chain starts with a checkpoint (a whole text)')
  return new Rope(first.content.text)
}

function applyContent(rope: Rope, version: StoredVersion): void {
  if ('text' in version.content) throw new Error(`version ${version.id} is a checkpoint inside a chain`)
  apply(rope, version.content.op)
}

/**
 * What the last version of `chain` (kept) must store once the versions `removed` are gone, or
 * null when its content stays: the composition of the removed ops between the version kept before
 * it and its own (with that version as `base`), or its whole text when the checkpoint is removed.
 */
export async function rewriteForRemoval(
  chain: readonly StoredVersion[],
  removed: ReadonlySet<number>,
): Promise<VersionContent | null> {
  const last = chain.at(-1)
  if (!last || 'text' in last.content || removed.has(last.id)) return null
  let kept = chain.length - 2
  while (kept >= 0 && removed.has(chain[kept].id)) kept--
  if (kept === chain.length - 2) return null
  if (kept < 0) return { text: await rebuildTextSliced(chain) }
  const ops = chain.slice(kept + 1).map((version) => (version.content as { op: TextOp }).op)
  return { op: composeAll(ops), base: chain[kept].id }
}
