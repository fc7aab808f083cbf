/**
 * Admission of updates to one room's document: before anything is applied, what the update would
 * cost this document is checked against the room's budgets, the work of applying it
 * (`maxUpdateWork`, priced as in update-admission.ts) and the quota (`maxDocumentBytes`, see
 * room-footprint.ts). The cheap bounds come first (bytes, then struct counts read from the
 * header), so a small message that asks for a huge walk is refused before the walk. An update
 * costing more than one turn's budget (up to `MAX_STEPS` of them) is admitted whole and applied in
 * slices (see update-slices.ts); each slice is admitted again as it is applied.
 *
 * `peerErrorFor` names what a refusal becomes for the peer that sent it.
 */
import type * as Y from 'yjs'
import { CloseCode } from '../../shared/protocol/index.ts'
import { DeletedIndex } from '../admission/deleted-index.ts'
import { PeerError } from '../admission/peer-error.ts'
import {
  type Admission,
  admitUpdate,
  floorWork,
  PRICES,
  type UpdateLimits,
  UpdateRefusal,
} from '../admission/update-admission.ts'
import { wouldChangeDocument } from '../admission/update-known.ts'
import { readUpdateShape, type UpdateShape, UpdateShapeError } from '../admission/update-shape.ts'
import type { ServerConfig } from '../config/config.ts'
import type { RelayMetrics } from '../ops/metrics.ts'
import { type RoomFootprint, STRUCT_MEMORY } from './room-footprint.ts'

/**
 * An update may cost at most this many times `maxUpdateWork`; past one budget it is applied in
 * slices, one per event-loop turn (see update-slices.ts).
 */
export const MAX_STEPS = 20

/** The slice of the server's config admission applies (each documented in config.ts). */
export type AdmissionConfig = UpdateLimits &
  Pick<ServerConfig, 'maxDocumentBytes' | 'maxUpdateWork' | 'maxJsonDepth'>

export interface RoomAdmissionOptions {
  doc: Y.Doc
  /** What the room costs now (read for the quota; asked to reclaim space when it is full). */
  footprint: RoomFootprint
  config: AdmissionConfig
  /** Counts refusals by reason (see metrics.ts). */
  metrics?: Pick<RelayMetrics, 'updateRefused'>
}

export class RoomAdmission {
  /** Which clocks are deleted, so re-sent deletions cost nothing (see deleted-index.ts). */
  private readonly deleted: DeletedIndex

  constructor(private readonly options: RoomAdmissionOptions) {
    this.deleted = new DeletedIndex(options.doc)
  }

  /**
   * Reads the update's shape and checks it against the document and the room's budgets, allowing
   * the work of `steps` turns. Throws UpdateShapeError, UpdateRefusal or PeerError.
   */
  admit(update: Uint8Array, steps: number): Admission {
    const { doc, footprint, config, metrics } = this.options
    const quota = config.maxDocumentBytes
    const cost = footprint.cost
    if (cost + update.byteLength > quota) {
      footprint.reclaim()
      metrics?.updateRefused('quota')
      throw new UpdateRefusal('limit', `the document would exceed its quota of ${quota} bytes`)
    }
    const maxWork = config.maxUpdateWork * steps
    // Each struct costs at least this much work and this much memory: no need to read further.
    const maxStructs = Math.floor(
      Math.min(maxWork / PRICES.structRead, (quota - cost - update.byteLength) / STRUCT_MEMORY + 1_000),
    )
    let shape: UpdateShape
    try {
      shape = readUpdateShape(update, {
        maxJsonDepth: config.maxJsonDepth,
        maxBlocks: doc.store.clients.size + config.maxUpdateClients,
        maxUpdateSubdocs: config.maxUpdateSubdocs,
        maxStructs,
      })
    } catch (err) {
      if (err instanceof UpdateShapeError && err.bound === 'structs') {
        const quotaBound = maxStructs < maxWork / PRICES.structRead
        metrics?.updateRefused(quotaBound ? 'quota' : 'work')
        throw new UpdateRefusal(
          'limit',
          quotaBound
            ? `the document would exceed its quota of ${quota} bytes (${err.message}, ${STRUCT_MEMORY} B each)`
            : `update would cost over ${Math.round(maxWork / 1e6)} ms of work (${err.message})`,
        )
      }
      throw err
    }
    const floor = floorWork(update.byteLength, shape.structCount)
    if (steps > 1 && floor > config.maxUpdateWork) {
      // Plainly more than one turn's work before any walk is priced: it is cut into slices first,
      // and each slice is priced as it is applied (pricing it whole would take a turn of its own).
      if (floor > maxWork) {
        metrics?.updateRefused('work')
        throw new UpdateRefusal(
          'limit',
          `update would cost over ${Math.round(floor / 1e6)} ms of work (limit ${Math.round(maxWork / 1e6)} ms in ${steps} steps)`,
        )
      }
      if (cost + update.byteLength + shape.structCount * STRUCT_MEMORY > quota) {
        metrics?.updateRefused('quota')
        throw new UpdateRefusal(
          'limit',
          `the document would exceed its quota of ${quota} bytes (${shape.structCount} items at ${STRUCT_MEMORY} B each)`,
        )
      }
      return { update, work: floor, newStructs: 0, deletes: shape.deletes, shape }
    }
    const admission = admitUpdate(doc, update, shape, config, this.deleted, maxWork)
    if (admission.work > maxWork) {
      metrics?.updateRefused('work')
      throw new UpdateRefusal(
        'limit',
        `update would cost over ${Math.round(admission.work / 1e6)} ms of work (limit ${Math.round(maxWork / 1e6)} ms${steps > 1 ? ` in ${steps} steps` : ''})`,
      )
    }
    if (cost + update.byteLength + admission.newStructs * STRUCT_MEMORY > quota) {
      metrics?.updateRefused('quota')
      throw new UpdateRefusal(
        'limit',
        `the document would exceed its quota of ${quota} bytes (${admission.newStructs} new items at ${STRUCT_MEMORY} B each)`,
      )
    }
    return admission
  }

  /** True unless `update` holds only what the document already has (see update-known.ts). */
  wouldChange(update: Uint8Array): boolean {
    return wouldChangeDocument(this.options.doc, this.deleted, update, this.options.config.maxJsonDepth)
  }

  /** Stops following the document's deletions. */
  destroy(): void {
    this.deleted.destroy()
  }
}

/** Maps a refusal from the shape reader or the admission check to the PeerError the peer gets. */
export function peerErrorFor(err: unknown, what: string): PeerError {
  if (err instanceof PeerError) return err
  if ((err instanceof UpdateShapeError || err instanceof UpdateRefusal) && err.kind === 'limit') {
    return new PeerError(CloseCode.limitExceeded, `${what}: ${err.message}`)
  }
  if (err instanceof UpdateRefusal) return new PeerError(CloseCode.needsResync, `${what}: ${err.message}`)
  return new PeerError(CloseCode.invalidUpdate, `${what} is malformed: ${(err as Error).message}`, {
    cause: err,
  })
}
