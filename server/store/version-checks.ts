/**
 * What every version store (memory-, sqlite-, postgres-version-log.ts) does the same way: a
 * version's content encoded for a column, and the checks an add and a removal pass against the
 * versions the store holds at that moment, so two instances planning on a chain that has since
 * changed are refused (StaleVersionBaseError) instead of corrupting it.
 */
import type { TextOp } from '../../shared/ot/op.ts'
import type { VersionContent } from './history-store.ts'

/** A write whose op applies to a version that is no longer the one kept before it (see VersionContent). */
export class StaleVersionBaseError extends Error {
  override readonly name = 'StaleVersionBaseError'
}

/**
 * The content as a store keeps it: whether it is a checkpoint, and its text or its op as JSON (a
 * JSON string keeps a NUL or a lone surrogate, which PostgreSQL text and UTF-8 would not).
 */
export interface EncodedContent {
  readonly checkpoint: boolean
  readonly data: string
}

export function encodeContent(content: VersionContent): EncodedContent {
  return 'text' in content
    ? { checkpoint: true, data: JSON.stringify(content.text) }
    : { checkpoint: false, data: JSON.stringify(content.op) }
}

export function decodeContent(checkpoint: boolean, data: string): VersionContent {
  return checkpoint ? { text: JSON.parse(data) as string } : { op: JSON.parse(data) as TextOp }
}

/**
 * Checks a removal against the room's versions as the store holds them now (`versions`, ascending,
 * each with whether it is stored whole): every version kept whose predecessor changes must then be
 * a checkpoint or get an op whose `base` is its new predecessor; else StaleVersionBaseError (the
 * caller planned it on versions another instance has changed since). Returns the ids it removes.
 */
export function checkRemoval(
  versions: readonly { readonly id: number; readonly checkpoint: boolean }[],
  removed: readonly number[],
  rewritten: ReadonlyMap<number, VersionContent>,
): number[] {
  const gone = new Set(removed)
  const out: number[] = []
  let kept: number | null = null
  let changed = false
  for (const { id, checkpoint } of versions) {
    if (gone.has(id)) {
      out.push(id)
      changed = true
      continue
    }
    const content = rewritten.get(id)
    const whole = content ? 'text' in content : checkpoint
    if (!whole && content && 'op' in content && content.base !== undefined && content.base !== kept)
      throw new StaleVersionBaseError(`version ${id}: its new op applies to ${content.base}, not ${kept}`)
    if (!whole && changed && !content)
      throw new StaleVersionBaseError(`version ${id} needs a new content once the versions before it go`)
    if (!whole && kept === null) throw new StaleVersionBaseError(`version ${id} would be an op with no base`)
    kept = id
    changed = false
  }
  return out
}

/** Throws StaleVersionBaseError unless `content` may follow the room's latest version `latestId`. */
export function checkAddBase(content: VersionContent, latestId: number | null): void {
  if (!('op' in content)) return
  if (latestId === null) throw new StaleVersionBaseError('an op with no version before it')
  if (content.base !== undefined && content.base !== latestId)
    throw new StaleVersionBaseError(`the op applies to version ${content.base}; the latest is ${latestId}`)
}
