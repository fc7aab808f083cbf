/**
 * Whether an update would change a document, decided without applying it: used for view-only
 * connections, whose stock clients answer the server's sync step 1 with a step 2 of everything
 * they hold (at least the whole delete set). Such an update is harmless when every struct in it is
 * already in the document and every range it deletes is already deleted there. Reading is bounded
 * (update-shape.ts), and so is the walk over deleted ranges: past `MAX_DELETE_WALK` structs the
 * update counts as a change.
 */
import * as Y from 'yjs'
import { readUpdateShape } from '../update-shape.ts'

/** Structs the delete-set walk may visit per update. */
const MAX_DELETE_WALK = 1_000_000

/** True unless `update` holds only what `doc` already has (malformed counts as a change). */
export function wouldChangeDocument(doc: Y.Doc, update: Uint8Array, maxJsonDepth: number): boolean {
  if (update.length === 2 && update[0] === 0 && update[1] === 0) return false
  let shape: ReturnType<typeof readUpdateShape>
  try {
    shape = readUpdateShape(update, { maxJsonDepth, maxBlocks: doc.store.clients.size })
  } catch {
    return true
  }
  for (const block of shape.blocks) if (block.end > Y.getState(doc.store, block.client)) return true
  let budget = MAX_DELETE_WALK
  for (const [client, ranges] of shape.deletes) {
    const structs = doc.store.clients.get(client)
    const state = Y.getState(doc.store, client)
    for (let i = 0; i < ranges.length; i += 2) {
      const clock = ranges[i]
      const end = clock + ranges[i + 1]
      if (end > state || !structs) return true
      for (let index = Y.findIndexSS(structs, clock); index < structs.length; index++) {
        const struct = structs[index]
        if (struct.id.clock >= end) break
        if (!struct.deleted || --budget <= 0) return true
      }
    }
  }
  return false
}
