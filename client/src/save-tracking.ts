/**
 * Connects a `SyncTracker` to a Yjs document and its y-websocket provider: the server's `saved`
 * messages (Tandem's opt-in extension) and the updates it relays feed what the server is known to
 * hold; every other update to the document is a local change waiting for the server.
 *
 * Deletions do not advance a Yjs state vector, so a transaction that only deletes could never be
 * confirmed by one. After such a transaction this module writes a one-entry marker
 * (`doc.getMap('tandem').set('edit', clock)`); the deletion counts as saved once the server holds the
 * marker, which it receives after the deletion on the same ordered connection.
 */
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { MessageType, readSaved } from '../../shared/protocol/index.ts'
import { formatStateVector, parseStateVector, SyncTracker, updateEndClocks } from './sync-status.ts'

/** Origin of the marker transactions that give deletions a clock. */
export const DELETION_MARKER_ORIGIN = Symbol('tandem-deletion-marker')

/** Name of the shared map holding the deletion marker. */
export const MARKER_MAP = 'tandem'

export interface SaveTrackingOptions {
  /** Where the server's known state vector is remembered between visits; null to not remember. */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null
  /** Key under which `storage` holds it (one per room). */
  storageKey?: string
}

/** Starts tracking; returns the tracker and a function that stops tracking. */
export function trackSaves(
  doc: Y.Doc,
  provider: WebsocketProvider,
  { storage = null, storageKey = 'tandem:server-state' }: SaveTrackingOptions = {},
): { tracker: SyncTracker; stop: () => void } {
  const tracker = new SyncTracker(parseStateVector(readStorage(storage, storageKey)))
  let markerScheduled = false

  provider.messageHandlers[MessageType.saved] = (_encoder, decoder) => {
    let sv: Map<number, number>
    try {
      sv = Y.decodeStateVector(readSaved(decoder))
    } catch (error) {
      console.warn('tandem: ignoring a malformed saved message', error)
      return
    }
    tracker.serverSaved(sv)
    writeStorage(storage, storageKey, formatStateVector(tracker.known))
  }

  const writeMarker = () => {
    markerScheduled = false
    doc.transact(() => {
      doc.getMap(MARKER_MAP).set('edit', Y.getState(doc.store, doc.clientID))
    }, DELETION_MARKER_ORIGIN)
  }

  const onUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === provider) {
      tracker.serverHas(updateEndClocks(update))
      return
    }
    // The marker's clock was already required by the deletion that scheduled it.
    if (origin === DELETION_MARKER_ORIGIN) return
    const required = updateEndClocks(update)
    if (required.size === 0) {
      required.set(doc.clientID, Y.getState(doc.store, doc.clientID) + 1)
      if (!markerScheduled) {
        markerScheduled = true
        queueMicrotask(writeMarker)
      }
    }
    tracker.addLocalChange(required)
  }
  doc.on('update', onUpdate)

  return {
    tracker,
    stop: () => {
      doc.off('update', onUpdate)
      delete provider.messageHandlers[MessageType.saved]
    },
  }
}

function readStorage(storage: SaveTrackingOptions['storage'], key: string): string | null {
  try {
    return storage?.getItem(key) ?? null
  } catch {
    return null
  }
}

function writeStorage(storage: SaveTrackingOptions['storage'], key: string, value: string): void {
  try {
    storage?.setItem(key, value)
  } catch {
    // Storage full or disabled: the tracker still works for this page, it just forgets on reload.
  }
}
