/**
 * Compaction without a document: a room's stored snapshot and log merged into one update with
 * `Y.mergeUpdates` (no `Y.Doc`, so no integration work), and checked to read back before it may
 * replace them. Used by stores that compact on their own (the SQLite worker, the PostgreSQL store's
 * merge thread, the memory store). Deleted content is kept as it was in the log (a merge does not
 * garbage-collect); a compaction from the document (on unload) does.
 */
import * as Y from 'yjs'
import { readUpdateShape } from '../admission/update-shape.ts'
import type { StoredRoom } from './doc-store.ts'

/** Deepest nesting a merged snapshot may hold; matches the server's default `maxJsonDepth`. */
const MAX_JSON_DEPTH = 64

/** The snapshot that replaces `stored`; throws if it would not read back. */
export function mergeStoredRoom(stored: StoredRoom): Uint8Array {
  const parts = stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates
  const merged = parts.length === 1 ? parts[0] : Y.mergeUpdates(parts)
  readUpdateShape(merged, { maxJsonDepth: MAX_JSON_DEPTH })
  return merged
}

/**
 * `snapshot` (a document's full state), with each of `parts` it does not contain (by its state
 * vector and delete set, `Y.snapshotContainsUpdate`) merged in: what another writer stored beside it.
 */
export function withMissingParts(snapshot: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0) return snapshot
  const covers = Y.createSnapshot(
    Y.mergeDeleteSets([Y.decodeUpdate(snapshot).ds]),
    Y.decodeStateVector(Y.encodeStateVectorFromUpdate(snapshot)),
  )
  const missing = parts.filter((part) => !Y.snapshotContainsUpdate(covers, part))
  return missing.length === 0 ? snapshot : Y.mergeUpdates([snapshot, ...missing])
}
