/**
 * Rebuilds a room's document from what the store holds, keeping whatever can be read: the
 * snapshot, then each logged update in order. A stored update (or snapshot) that is malformed,
 * past a bound, or that Yjs refuses is set aside instead of failing the whole room, so one poisoned
 * write can never lock everyone out of everything written before it. The caller stores what was
 * set aside (the `quarantine` table) and compacts, so the room's stored state becomes readable again.
 *
 * A stored part too costly to apply in one event-loop turn (a big room's snapshot, or a room
 * written before updates were priced) is applied in slices, one per turn, as a large update from a
 * client is (update-slices.ts): loading a room never stalls the others for longer than a budget.
 */
import * as Y from 'yjs'
import { floorWork, PRICES, UpdateRefusal } from '../admission/update-admission.ts'
import { readUpdateShape } from '../admission/update-shape.ts'
import { type Slice, sliceBytes, sliceDeletes, sliceStructs } from '../admission/update-slices.ts'
import type { StoredRoom } from '../store/index.ts'
import { nextTurn } from './turns.ts'

export interface SetAside {
  /** The stored bytes that were not applied. */
  data: Uint8Array
  /** `snapshot` or `log`. */
  source: 'snapshot' | 'log'
  reason: string
}

export interface RestoreOptions {
  maxJsonDepth: number
  /** Work (ns, see PRICES) one turn may spend applying. */
  budget: number
  /** Origin of the transactions (what `update` listeners see). */
  origin?: unknown
}

/** Applies `stored` to `doc`; resolves with what could not be applied. */
export async function restoreDoc(
  doc: Y.Doc,
  stored: StoredRoom,
  options: RestoreOptions,
): Promise<SetAside[]> {
  const setAside: SetAside[] = []
  const parts: Array<[Uint8Array, SetAside['source']]> = stored.updates.map((update) => [update, 'log'])
  if (stored.snapshot) parts.unshift([stored.snapshot, 'snapshot'])
  for (const [data, source] of parts) {
    try {
      await applyStored(doc, data, options)
    } catch (err) {
      setAside.push({ data, source, reason: err instanceof Error ? err.message : String(err) })
    }
  }
  return setAside
}

/**
 * Applies one stored update: at once when its estimated work fits `budget`, else in slices, one
 * per turn. Throws what reading or applying it threw.
 */
export async function applyStored(doc: Y.Doc, data: Uint8Array, options: RestoreOptions): Promise<void> {
  const shape = readUpdateShape(data, { maxJsonDepth: options.maxJsonDepth })
  let ranges = 0
  for (const list of shape.deletes.values()) ranges += list.length / 2
  const estimate = floorWork(data.byteLength, shape.structCount) + ranges * PRICES.deleteStruct
  if (estimate <= options.budget) {
    Y.applyUpdate(doc, data, options.origin)
    return
  }
  const target = options.budget / 2
  let slices: Slice[]
  try {
    slices = sliceStructs(doc, data, shape, target)
  } catch (err) {
    // Written before updates were checked, it may depend on a later part: Yjs keeps it pending.
    if (!(err instanceof UpdateRefusal)) throw err
    Y.applyUpdate(doc, data, options.origin)
    return
  }
  for (const slice of slices) {
    Y.applyUpdate(doc, sliceBytes(slice), options.origin)
    await nextTurn()
  }
  let deletions: Uint8Array[]
  try {
    deletions = sliceDeletes(doc, shape.deletes, target)
  } catch {
    // A deletion of what the document lacks (written before updates were checked): Yjs keeps it.
    deletions = [data]
  }
  for (const slice of deletions) {
    Y.applyUpdate(doc, sliceBytes(slice), options.origin)
    await nextTurn()
  }
}
