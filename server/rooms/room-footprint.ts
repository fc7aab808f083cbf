/**
 * What a room costs, and the compaction that keeps its stored part small.
 *
 * The quota (`maxDocumentBytes`) counts a room's stored bytes (its snapshot plus every update
 * accepted since: an estimate until the next compaction measures it) and the memory of its
 * document: `STRUCT_MEMORY` per struct. The store's log since the last snapshot is counted too:
 * once it holds `compactAfterUpdates` updates or `compactAfterBytes` bytes it is compacted into one
 * snapshot, through the commit queue, so a snapshot never races an append. A room no bigger than
 * `compactFromDocumentMaxBytes` is compacted by encoding its document here (a few ms, and it drops
 * deleted content); a bigger one lets the store merge its log off this thread where it can (the
 * SQLite worker), so a big document never stalls the relay.
 */
import type { Logger } from 'pino'
import * as Y from 'yjs'
import { readUpdateShape } from '../admission/update-shape.ts'
import type { ServerConfig } from '../config/config.ts'
import type { StoredRoom } from '../store/index.ts'
import type { CommitQueue } from './commit-queue.ts'

/**
 * Heap bytes one struct of a loaded document takes besides its content (an Item, its id, its
 * content object, its slot in the struct store), measured on this codebase's machine: 209 B for a
 * one-character item (`npm run bench:prices` prints it).
 */
export const STRUCT_MEMORY = 210

/** The slice of the server's config the footprint applies (each documented in config.ts). */
export type FootprintConfig = Pick<
  ServerConfig,
  | 'compactAfterUpdates'
  | 'compactAfterBytes'
  | 'compactFromDocumentMaxBytes'
  | 'maxJsonDepth'
  | 'maxUpdateSubdocs'
>

export interface RoomFootprintOptions {
  /** The room's name (its key in the store). */
  name: string
  doc: Y.Doc
  /** What the store held when the room loaded (its log is counted from there). */
  stored: StoredRoom
  commits: CommitQueue
  config: FootprintConfig
  log: Logger
}

export class RoomFootprint {
  /** Updates in the store's log since the last snapshot, and their bytes. */
  private logCount: number
  private logBytes: number
  /** Stored size estimate for the quota: the snapshot plus every update accepted since. */
  private documentBytes: number
  /** Bytes of every update accepted since the room loaded. */
  private acceptedBytes = 0
  /** Structs the document holds (an upper bound: Yjs merges some), for the memory quota. */
  private structCount = 0
  private compactionDone: Promise<void> | null = null

  constructor(private readonly options: RoomFootprintOptions) {
    const { stored } = options
    this.logCount = stored.updates.length
    this.logBytes = stored.logBytes
    this.documentBytes = (stored.snapshot?.byteLength ?? 0) + stored.logBytes
  }

  /** What the room counts against its quota: stored bytes plus the memory of its structs. */
  get cost(): number {
    return this.documentBytes + this.structCount * STRUCT_MEMORY
  }

  /** The room's stored size: its snapshot plus every update accepted since (see documentBytes). */
  get storedBytes(): number {
    return this.documentBytes
  }

  /** Counts the document's structs again (after it was loaded or merged in bulk). */
  recount(): void {
    this.structCount = countStructs(this.options.doc)
  }

  /** An update from a connection here, applied and queued for commit, that added `newStructs`. */
  accepted(update: Uint8Array, newStructs: number): void {
    this.structCount += newStructs
    this.documentBytes += update.byteLength
    this.acceptedBytes += update.byteLength
  }

  /**
   * An accepted update is now in the store's log: compacts once the log is long enough (from the
   * document when it is small enough, see the head comment).
   */
  committed(update: Uint8Array): void {
    this.logCount++
    this.logBytes += update.byteLength
    const { compactAfterUpdates, compactAfterBytes, compactFromDocumentMaxBytes } = this.options.config
    if (this.logCount >= compactAfterUpdates || this.logBytes >= compactAfterBytes) {
      void this.requestCompaction(this.documentBytes <= compactFromDocumentMaxBytes)
    }
  }

  /** An update another instance committed (already in the store), applied here. */
  remote(update: Uint8Array, newStructs: number): void {
    this.structCount += newStructs
    this.documentBytes += update.byteLength
  }

  /**
   * The room is at its quota: compacts if the log holds anything, since a snapshot may take less
   * than the log it replaces (the update refused now may fit afterwards).
   */
  reclaim(): void {
    if (this.logBytes > 0) void this.requestCompaction()
  }

  /**
   * Rewrites the stored room as one snapshot encoded from the document if there is a log (or
   * `always`, when the stored state must be replaced). Resolves once done or failed.
   */
  async compact(always = false): Promise<void> {
    if (this.logCount === 0 && !this.compactionDone && !always) return
    await this.compactionDone
    await this.requestCompaction(true)
  }

  /**
   * Compacts the room's log into its snapshot. `fromDocument` encodes the document (also used on
   * unload and after recovery); otherwise the store merges what it holds.
   */
  requestCompaction(fromDocument = false): Promise<void> {
    if (this.compactionDone) return this.compactionDone
    const { name, doc, commits, config, log } = this.options
    const countAtRequest = this.logCount
    let acceptedAtStart = 0
    this.compactionDone = commits
      .compact(name, () => {
        // Every update committed so far goes into the snapshot; later ones are appended after it.
        this.logCount = 0
        this.logBytes = 0
        acceptedAtStart = this.acceptedBytes
        if (!fromDocument) return undefined
        const snapshot = Y.encodeStateAsUpdate(doc)
        // Never store what could not be read back.
        readUpdateShape(snapshot, {
          maxJsonDepth: config.maxJsonDepth,
          maxUpdateSubdocs: config.maxUpdateSubdocs,
        })
        return snapshot
      })
      .then((snapshotBytes) => {
        if (snapshotBytes === null) this.logCount = Math.max(this.logCount, countAtRequest)
        else {
          this.documentBytes = snapshotBytes + (this.acceptedBytes - acceptedAtStart)
          this.recount()
          log.debug({ room: name, snapshotBytes }, 'room compacted')
        }
        this.compactionDone = null
      })
    return this.compactionDone
  }
}

/** Structs in `doc`'s struct store. */
function countStructs(doc: Y.Doc): number {
  let count = 0
  for (const structs of doc.store.clients.values()) count += structs.length
  return count
}
