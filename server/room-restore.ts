/**
 * Rebuilds a room's document from what the store holds, keeping whatever can be read: the
 * snapshot, then each logged update in order. A stored update (or snapshot) that is malformed,
 * past a bound, or that Yjs refuses is set aside instead of failing the whole room, so one poisoned
 * write can never lock everyone out of everything written before it. The caller stores what was
 * set aside (the `quarantine` table) and compacts, so the room's stored state becomes readable again.
 */
import * as Y from 'yjs'
import type { StoredRoom } from './store/index.ts'
import { readUpdateShape } from './update-shape.ts'

export interface SetAside {
  /** The stored bytes that were not applied. */
  data: Uint8Array
  /** `snapshot` or `log`. */
  source: 'snapshot' | 'log'
  reason: string
}

/** Applies `stored` to `doc`; returns what could not be applied. */
export function restoreDoc(doc: Y.Doc, stored: StoredRoom, maxJsonDepth: number): SetAside[] {
  const setAside: SetAside[] = []
  const apply = (data: Uint8Array, source: SetAside['source']) => {
    try {
      readUpdateShape(data, { maxJsonDepth })
      Y.applyUpdate(doc, data)
    } catch (err) {
      setAside.push({ data, source, reason: err instanceof Error ? err.message : String(err) })
    }
  }
  doc.transact(() => {
    if (stored.snapshot) apply(stored.snapshot, 'snapshot')
    for (const update of stored.updates) apply(update, 'log')
  })
  return setAside
}
