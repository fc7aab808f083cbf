/**
 * Whether an update would change a document, decided without applying it: used for view-only
 * connections, whose stock clients answer the server's sync step 1 with a step 2 of everything
 * they hold (at least the whole delete set). Such an update is harmless when every struct in it is
 * already in the document and every range it deletes is already deleted there. Reading is bounded
 * (update-shape.ts), and each delete range costs a binary search in the room's DeletedIndex, never
 * a walk over the structs it covers.
 */
import * as Y from 'yjs'
import type { DeletedIndex } from './deleted-index.ts'
import { isEmptyUpdate, readUpdateShape } from './update-shape.ts'

/** True unless `update` holds only what `doc` already has (malformed counts as a change). */
export function wouldChangeDocument(
  doc: Y.Doc,
  deleted: DeletedIndex,
  update: Uint8Array,
  maxJsonDepth: number,
): boolean {
  if (isEmptyUpdate(update)) return false
  let shape: ReturnType<typeof readUpdateShape>
  try {
    shape = readUpdateShape(update, { maxJsonDepth, maxBlocks: doc.store.clients.size })
  } catch {
    return true
  }
  for (const block of shape.blocks) if (block.end > Y.getState(doc.store, block.client)) return true
  for (const [client, ranges] of shape.deletes) {
    const state = Y.getState(doc.store, client)
    for (let i = 0; i < ranges.length; i += 2) {
      const clock = ranges[i]
      const end = clock + ranges[i + 1]
      if (end === clock) continue
      if (end > state || !deleted.covers(client, clock, end)) return true
    }
  }
  return false
}
