/**
 * A room: one Yjs document and its awareness, shared by the connections in it. This is the one
 * place where accepted updates fan out: an update is checked (shape, then what it would cost this
 * document), applied, queued for the group commit, and only after it is durable relayed (the frame
 * as received, encoded once) to every other connection, counted toward compaction, and announced
 * to `onCommittedUpdate` listeners (the seam for change feeds). Data flows one way:
 * connection → room → commit queue → store → the room's follow-ups.
 *
 * With a bus (several instances sharing one store, see fanout/), what a room commits is also
 * published to the room's other instances once durable, and what they publish is applied here and
 * relayed to this room's connections (`applyRemote`); `mergeStored` catches up from the store
 * when the bus may have dropped something. An instance's own connections never wait for the bus.
 *
 * Awareness: a connection may only touch the awareness client ids it introduced. Entries for ids
 * another connection owns are dropped silently (stock y-websocket providers echo everyone's states
 * back), the rest are applied and relayed.
 */
import type { Logger } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import {
  CloseCode,
  encodeAwareness,
  encodeSaved,
  encodeStorage,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  StorageState,
} from '../../shared/protocol/index.ts'
import {
  type AwarenessEntry,
  encodeAwarenessEntries,
  readAwarenessEntries,
} from '../admission/awareness-shape.ts'
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
import {
  isEmptyUpdate,
  readUpdateShape,
  type UpdateShape,
  UpdateShapeError,
} from '../admission/update-shape.ts'
import { MAX_SLICE_BYTES, sliceBytes, sliceDeletes, sliceStructs } from '../admission/update-slices.ts'
import { type BusKind, BusKind as Kind } from '../fanout/bus-message.ts'
import type { RoomPublisher } from '../fanout/room-bus.ts'
import type { RelayMetrics } from '../ops/metrics.ts'
import type { StoredRoom } from '../store/index.ts'
import type { CommitQueue } from './commit-queue.ts'
import { restoreDoc, type SetAside } from './room-restore.ts'
import { SyncReplyCache } from './sync-reply-cache.ts'
import { nextTurn } from './turns.ts'

/** What a room needs of a connection. */
export interface RoomMember {
  readonly id: number
  /** Client opted in to Tandem's extensions (`saved`, `storage`) with `?tandem=1`. */
  readonly wantsSaved: boolean
  /** Awareness client ids this connection introduced (removed for everyone when it leaves). */
  readonly awarenessIds: Set<number>
  send(message: Uint8Array): void
}

export interface RoomOptions extends UpdateLimits {
  compactAfterUpdates: number
  compactAfterBytes: number
  compactFromDocumentMaxBytes: number
  /** Quota on what a room costs: its stored bytes plus `STRUCT_MEMORY` per struct in memory. */
  maxDocumentBytes: number
  /** Work (ns, see PRICES) one update may cost to apply. */
  maxUpdateWork: number
  maxJsonDepth: number
  maxAwarenessStateBytes: number
  maxAwarenessClientsPerConnection: number
  /** Times each document update's apply (see metrics.ts). */
  metrics?: RelayMetrics
}

type CommittedListener = (room: Room, update: Uint8Array) => void

/**
 * Heap bytes one struct of a loaded document takes besides its content (an Item, its id, its
 * content object, its slot in the struct store), measured on this codebase's machine: 209 B for a
 * one-character item (`npm run bench:prices` prints it).
 */
export const STRUCT_MEMORY = 210

/**
 * An update may cost at most this many times `maxUpdateWork`; past one budget it is applied in
 * slices, one per event-loop turn (see update-slices.ts).
 */
export const MAX_STEPS = 20

/** Origin of changes that came from another instance or from the store (never relayed back to the bus). */
const REMOTE = Symbol('remote')
/** Origin of what a resync applies from the store (relayed by `mergeStored` itself). */
const RESYNC = Symbol('resync')

export class Room {
  readonly doc = new Y.Doc()
  readonly awareness: awarenessProtocol.Awareness
  readonly members = new Set<RoomMember>()
  /** What could not be restored from the store when the room loaded (empty when all was fine). */
  setAside: SetAside[] = []
  /** Updates in the store's log since the last snapshot, and their bytes. */
  private logCount: number
  private logBytes: number
  /** Stored size estimate for the quota: the snapshot plus every update accepted since. */
  private documentBytes: number
  /** Bytes of every update accepted since the room loaded. */
  private acceptedBytes = 0
  /** Structs the document holds (an upper bound: Yjs merges some), for the memory quota. */
  private structCount = 0
  /** Which clocks are deleted, so re-sent deletions cost nothing (see deleted-index.ts). */
  private readonly deleted: DeletedIndex
  /** Per member: saved-ack sequence and the state-vector entries it is waiting to hear about. */
  private readonly acks = new WeakMap<RoomMember, { seq: number; entries: Map<number, number> }>()
  private readonly awarenessOwners = new Map<number, RoomMember>()
  /**
   * Awareness ids whose state another instance publishes (one of its connections owns them), with
   * when it last did: a connection here may not claim one while that state lives, as it may not
   * claim one another connection here owns. Forgotten on the state's removal or timeout.
   */
  private readonly remoteAwareness = new Map<number, number>()
  private readonly committedListeners = new Set<CommittedListener>()
  private readonly fullSync = new SyncReplyCache()
  private compactionDone: Promise<void> | null = null
  destroyed = false

  /**
   * Loads a room from what the store holds (see room-restore.ts: a big stored state is applied in
   * slices, one per event-loop turn, so loading never stalls the other rooms for long).
   */
  static async open(
    name: string,
    stored: StoredRoom,
    commits: CommitQueue,
    options: RoomOptions,
    log: Logger,
    bus: RoomPublisher | null = null,
  ): Promise<Room> {
    const room = new Room(name, stored, commits, options, log, bus)
    room.setAside = await restoreDoc(room.doc, stored, {
      maxJsonDepth: options.maxJsonDepth,
      budget: options.maxUpdateWork,
    })
    room.structCount = countStructs(room.doc)
    if (room.memoryCost() > options.maxDocumentBytes) {
      log.warn(
        { room: name, cost: room.memoryCost(), quota: options.maxDocumentBytes },
        'room loaded past its quota (stored before the quota counted memory): it accepts no update that adds to it',
      )
    }
    return room
  }

  private constructor(
    readonly name: string,
    stored: StoredRoom,
    private readonly commits: CommitQueue,
    private readonly options: RoomOptions,
    private readonly log: Logger,
    private readonly bus: RoomPublisher | null = null,
  ) {
    this.logCount = stored.updates.length
    this.logBytes = stored.logBytes
    this.documentBytes = (stored.snapshot?.byteLength ?? 0) + stored.logBytes
    this.deleted = new DeletedIndex(this.doc)
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.awareness.setLocalState(null)
    this.awareness.on('update', this.onAwarenessChange)
  }

  /** Live counters for tests and metrics: sync-step-2 replies encoded (shared ones count once). */
  readonly stats = { syncReplyEncodes: 0 }

  /** Adds a member and starts the sync handshake with it (server's step 1, awareness, saved, storage). */
  join(member: RoomMember): void {
    this.members.add(member)
    member.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    if (this.awareness.getStates().size > 0) {
      member.send(this.encodeAwareness([...this.awareness.getStates().keys()]))
    }
    if (member.wantsSaved) {
      this.queueSavedAck(member, Y.decodeStateVector(Y.encodeStateVector(this.doc)))
      if (this.commits.failures > 0) member.send(encodeStorage(StorageState.failing))
    }
  }

  /** Removes a member and, for everyone else, the awareness states it introduced. */
  leave(member: RoomMember): void {
    if (!this.members.delete(member)) return
    if (member.awarenessIds.size === 0) return
    const ids = [...member.awarenessIds]
    for (const id of ids) if (this.awarenessOwners.get(id) === member) this.awarenessOwners.delete(id)
    member.awarenessIds.clear()
    awarenessProtocol.removeAwarenessStates(this.awareness, ids, null)
  }

  /**
   * Checks and applies a document update from `member`, queues it for commit, and relays it once
   * durable. `frame` is the member's frame when it is already a sync-update message (relayed as is).
   * Throws PeerError: 4422 for a malformed update, 4509 for one that depends on what the room lacks
   * (the client reconnects and resyncs), 4413 for one past a limit.
   */
  applyUpdate(member: RoomMember, received: Uint8Array, frame: Uint8Array | null): Promise<void> | undefined {
    // An up-to-date client answers our sync step 1 with an empty update: nothing to store or relay.
    if (isEmptyUpdate(received)) return
    let admission: Admission
    try {
      admission = this.admit(received, MAX_STEPS)
    } catch (err) {
      throw peerErrorFor(err, 'document update')
    }
    const update = admission.update
    // Nothing in it is new (a re-sent deletion, structs the room holds): nothing to do.
    if (update === null) return
    // Past a turn's work, or (with other instances) too big to reach them as one ordinary frame.
    const tooBig = this.bus !== null && update.byteLength > MAX_SLICE_BYTES
    if (admission.work > this.options.maxUpdateWork || tooBig) {
      return this.applyInSteps(member, admission).catch((err) => {
        throw peerErrorFor(err, 'document update')
      })
    }
    this.commitApplied(member, admission, frame && update === received ? frame : null)
    if (member.wantsSaved) this.queueSavedAck(member, this.statesOf(admission.shape))
  }

  /**
   * Applies an admitted update too costly for one turn as slices of at most half the budget, one
   * per event-loop turn (see update-slices.ts); each slice is admitted, applied and relayed like an
   * update of its own (committed first when it comes from `member`; null: from another instance,
   * already durable). Resolves when all are applied; rejects with the error that stopped it. Stops
   * early (what was applied stays) if the member leaves or the room unloads.
   */
  private async applyInSteps(member: RoomMember | null, admission: Admission): Promise<void> {
    const target = this.options.maxUpdateWork / 2
    const gone = () => this.destroyed || (member !== null && !this.members.has(member))
    const { shape } = admission
    const structs = shape.structCount > 0 ? sliceStructs(this.doc, admission.update!, shape, target) : []
    let slices = structs.length
    for (const slice of structs) {
      await nextTurn()
      if (gone()) return
      this.applySlice(member, sliceBytes(slice))
    }
    await nextTurn()
    if (gone()) return
    const deletes = sliceDeletes(this.doc, admission.deletes, target)
    slices += deletes.length
    for (const slice of deletes) {
      await nextTurn()
      if (gone()) return
      this.applySlice(member, sliceBytes(slice))
    }
    this.options.metrics?.updateSliced(slices)
    if (member?.wantsSaved) this.queueSavedAck(member, this.statesOf(admission.shape))
  }

  /** Admits and applies one slice of a larger update (see applyInSteps). */
  private applySlice(member: RoomMember | null, slice: Uint8Array): void {
    const admission = this.admit(slice, 1)
    if (admission.update === null) return
    if (member) {
      this.commitApplied(member, admission, null)
      return
    }
    Y.applyUpdate(this.doc, admission.update, REMOTE)
    this.structCount += admission.newStructs
    this.relayRemote(admission.update)
  }

  /**
   * Applies an admitted update from `member`, queues it for commit, and relays it once durable.
   * `frame` is the member's frame when it is already a sync-update message of exactly the update.
   */
  private commitApplied(member: RoomMember, admission: Admission, frame: Uint8Array | null): void {
    const update = admission.update!
    const metrics = this.options.metrics
    const started = metrics ? performance.now() : 0
    try {
      Y.applyUpdate(this.doc, update, member)
      metrics?.updateApplied((performance.now() - started) / 1000)
    } catch (err) {
      // Yjs may have integrated part of the update before failing: make the store catch up with the
      // document as it now is, so memory and disk never diverge.
      this.fullSync.clear()
      void this.requestCompaction(true)
      throw new PeerError(CloseCode.invalidUpdate, 'document update could not be applied', { cause: err })
    }
    this.structCount += admission.newStructs
    this.documentBytes += update.byteLength
    this.acceptedBytes += update.byteLength
    this.commits.append(this.name, update)
    const relay = frame ?? encodeSyncUpdate(update)
    this.fullSync.applied(relay)
    this.commits.afterCommit(() => {
      this.logCount++
      this.logBytes += update.byteLength
      for (const other of this.members) if (other !== member) other.send(relay)
      this.bus?.publish(this.name, Kind.update, update)
      for (const listener of this.committedListeners) listener(this, update)
      if (
        this.logCount >= this.options.compactAfterUpdates ||
        this.logBytes >= this.options.compactAfterBytes
      ) {
        void this.requestCompaction(this.documentBytes <= this.options.compactFromDocumentMaxBytes)
      }
    })
  }

  /** The document's state-vector entries for the clients whose structs `shape` carries. */
  private statesOf(shape: UpdateShape): Map<number, number> {
    const states = new Map<number, number>()
    for (const { client } of shape.blocks) states.set(client, Y.getState(this.doc.store, client))
    return states
  }

  /** True unless `update` holds only what the document already has (see update-known.ts). */
  wouldChange(update: Uint8Array): boolean {
    return wouldChangeDocument(this.doc, this.deleted, update, this.options.maxJsonDepth)
  }

  /**
   * Answers a sync step 1 with step 2, computed now and sent once what it contains is durable. A
   * client with nothing yet gets the room's shared full encoding (see SyncReplyCache).
   */
  answerSyncStep1(member: RoomMember, stateVector: Uint8Array): void {
    let messages: Uint8Array[]
    try {
      const sv = Y.decodeStateVector(stateVector)
      const encode = (target?: Uint8Array) => {
        this.stats.syncReplyEncodes++
        return Y.encodeStateAsUpdate(this.doc, target)
      }
      messages =
        sv.size === 0 ? this.fullSync.fullSync(() => encode()) : [encodeSyncStep2(encode(stateVector))]
    } catch (err) {
      throw new PeerError(CloseCode.malformedMessage, 'sync step 1 carries a malformed state vector', {
        cause: err,
      })
    }
    this.commits.afterCommit(() => {
      for (const message of messages) member.send(message)
    })
  }

  /**
   * Applies an awareness update from `member` and relays it to every member, the sender included:
   * as with y-websocket's server, the echo of its periodic (15 s) awareness renewal is what keeps a
   * client alone in a room from hitting the provider's 30 s silence reconnect. Entries for client
   * ids another member introduced are dropped; throws PeerError(4413) past a bound.
   */
  applyAwareness(member: RoomMember, update: Uint8Array, frame: Uint8Array): void {
    let entries: AwarenessEntry[]
    try {
      entries = readAwarenessEntries(update, this.options)
    } catch (err) {
      throw peerErrorFor(err, 'awareness update')
    }
    const allowed = entries.filter((entry) => this.mayTouch(member, entry))
    if (allowed.length === 0) return
    const own = allowed.length === entries.length ? update : encodeAwarenessEntries(allowed)
    awarenessProtocol.applyAwarenessUpdate(this.awareness, own, member)
    const message = own === update ? frame : encodeAwareness(own)
    for (const other of this.members) other.send(message)
    this.bus?.publish(this.name, Kind.awareness, own)
  }

  /**
   * Applies what another instance published for this room (a committed update, or an awareness
   * update) and relays it to this room's connections. An update passes the same admission as a
   * client's (and is applied in slices when it costs more than one turn's budget). Returns (or
   * resolves to) false when the room should be re-read from the store instead.
   */
  applyRemote(kind: BusKind, payload: Uint8Array): boolean | Promise<boolean> {
    if (kind === Kind.awareness) {
      try {
        // Ids a connection here owns are its own to change; the others are now another
        // instance's (see mayTouch).
        const all = readAwarenessEntries(payload, this.options)
        const entries = all.filter((entry) => !this.awarenessOwners.has(entry.clientID))
        if (entries.length === 0) return true
        const now = Date.now()
        for (const entry of entries) {
          if (entry.json === 'null') this.remoteAwareness.delete(entry.clientID)
          else this.remoteAwareness.set(entry.clientID, now)
        }
        const own = entries.length === all.length ? payload : encodeAwarenessEntries(entries)
        // onAwarenessChange relays it to the members.
        awarenessProtocol.applyAwarenessUpdate(this.awareness, own, REMOTE)
      } catch (err) {
        this.log.warn({ err, room: this.name }, 'dropped an awareness update from another instance')
      }
      return true
    }
    if (kind !== Kind.update || isEmptyUpdate(payload)) return true
    // Checked as strictly as a client's update: Redis is one more network input. What fails is
    // not applied; the room is re-read from the store instead, which holds every committed update
    // (and nothing a forged frame carried).
    const refused = (err: unknown) => {
      this.fullSync.clear()
      this.log.warn(
        { err, room: this.name },
        'refused an update from another instance; resyncing from the store',
      )
      return false
    }
    let admission: Admission
    try {
      admission = this.admit(payload, MAX_STEPS)
      if (admission.update === null) return true
      if (admission.work > this.options.maxUpdateWork) {
        return this.applyInSteps(null, admission).then(() => true, refused)
      }
      Y.applyUpdate(this.doc, admission.update, REMOTE)
    } catch (err) {
      return refused(err)
    }
    this.structCount += admission.newStructs
    this.relayRemote(admission.update)
    return true
  }

  /**
   * Brings the document up to date with what the store holds (another instance's updates the bus
   * may have dropped) and relays whatever was new to this room's connections.
   */
  async mergeStored(stored: StoredRoom): Promise<void> {
    const missing: Uint8Array[] = []
    const capture = (update: Uint8Array, origin: unknown) => {
      if (origin === RESYNC) missing.push(update)
    }
    this.doc.on('update', capture)
    try {
      const failed = await restoreDoc(this.doc, stored, {
        maxJsonDepth: this.options.maxJsonDepth,
        budget: this.options.maxUpdateWork,
        origin: RESYNC,
      })
      for (const { reason, source } of failed) {
        this.fullSync.clear()
        this.log.warn({ room: this.name, source, reason }, 'resync: a stored update could not be applied')
      }
    } finally {
      this.doc.off('update', capture)
    }
    if (this.destroyed) return
    this.structCount = countStructs(this.doc)
    for (const update of missing) this.relayRemote(update)
  }

  /** Relays an update that is already durable (another instance committed it) to every member. */
  private relayRemote(update: Uint8Array): void {
    this.documentBytes += update.byteLength
    const frame = encodeSyncUpdate(update)
    this.fullSync.applied(frame)
    for (const member of this.members) member.send(frame)
    for (const listener of this.committedListeners) listener(this, update)
  }

  /** Sends `member` every awareness state in the room. */
  answerQueryAwareness(member: RoomMember): void {
    member.send(this.encodeAwareness([...this.awareness.getStates().keys()]))
  }

  /** Tells members that opted in whether the store is saving (see `StorageState`). */
  announceStorage(state: (typeof StorageState)[keyof typeof StorageState]): void {
    const message = encodeStorage(state)
    for (const member of this.members) if (member.wantsSaved) member.send(message)
  }

  /** Subscribes to updates once they are committed; returns the unsubscribe function. */
  onCommittedUpdate(listener: CommittedListener): () => void {
    this.committedListeners.add(listener)
    return () => this.committedListeners.delete(listener)
  }

  /**
   * Rewrites the stored room as one snapshot encoded from this document (if there is a log, or the
   * load set something aside). Resolves once done or failed. Used on unload and after recovery.
   */
  async compact(): Promise<void> {
    if (this.logCount === 0 && !this.compactionDone && this.setAside.length === 0) return
    await this.compactionDone
    await this.requestCompaction(true)
  }

  /** Releases the document and awareness (the room must be empty and flushed). */
  destroy(): void {
    this.destroyed = true
    this.deleted.destroy()
    this.fullSync.clear()
    this.awareness.off('update', this.onAwarenessChange)
    this.awareness.destroy()
    this.doc.destroy()
  }

  /**
   * Reads the update's shape and checks it against this document and the room's budgets: the work
   * applying it would cost (`maxUpdateWork`) and the memory quota. Throws UpdateShapeError,
   * UpdateRefusal or PeerError.
   */
  private admit(update: Uint8Array, steps: number): Admission {
    const quota = this.options.maxDocumentBytes
    const cost = this.memoryCost()
    if (cost + update.byteLength > quota) {
      if (this.logBytes > 0) void this.requestCompaction()
      this.options.metrics?.updateRefused('quota')
      throw new UpdateRefusal('limit', `the document would exceed its quota of ${quota} bytes`)
    }
    const maxWork = this.options.maxUpdateWork * steps
    // Each struct costs at least this much work and this much memory: no need to read further.
    const maxStructs = Math.floor(
      Math.min(maxWork / PRICES.structRead, (quota - cost - update.byteLength) / STRUCT_MEMORY + 1_000),
    )
    let shape: UpdateShape
    try {
      shape = readUpdateShape(update, {
        maxJsonDepth: this.options.maxJsonDepth,
        maxBlocks: this.doc.store.clients.size + this.options.maxUpdateClients,
        maxUpdateSubdocs: this.options.maxUpdateSubdocs,
        maxStructs,
      })
    } catch (err) {
      if (err instanceof UpdateShapeError && err.bound === 'structs') {
        const quotaBound = maxStructs < maxWork / PRICES.structRead
        this.options.metrics?.updateRefused(quotaBound ? 'quota' : 'work')
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
    if (steps > 1 && floor > this.options.maxUpdateWork) {
      // Plainly more than one turn's work before any walk is priced: it is cut into slices first,
      // and each slice is priced as it is applied (pricing it whole would take a turn of its own).
      if (floor > maxWork) {
        this.options.metrics?.updateRefused('work')
        throw new UpdateRefusal(
          'limit',
          `update would cost over ${Math.round(floor / 1e6)} ms of work (limit ${Math.round(maxWork / 1e6)} ms in ${steps} steps)`,
        )
      }
      if (cost + update.byteLength + shape.structCount * STRUCT_MEMORY > quota) {
        this.options.metrics?.updateRefused('quota')
        throw new UpdateRefusal(
          'limit',
          `the document would exceed its quota of ${quota} bytes (${shape.structCount} items at ${STRUCT_MEMORY} B each)`,
        )
      }
      return { update, work: floor, newStructs: 0, deletes: shape.deletes, shape }
    }
    const admission = admitUpdate(this.doc, update, shape, this.options, this.deleted, maxWork)
    if (admission.work > maxWork) {
      this.options.metrics?.updateRefused('work')
      throw new UpdateRefusal(
        'limit',
        `update would cost over ${Math.round(admission.work / 1e6)} ms of work (limit ${Math.round(maxWork / 1e6)} ms${steps > 1 ? ` in ${steps} steps` : ''})`,
      )
    }
    if (cost + update.byteLength + admission.newStructs * STRUCT_MEMORY > quota) {
      this.options.metrics?.updateRefused('quota')
      throw new UpdateRefusal(
        'limit',
        `the document would exceed its quota of ${quota} bytes (${admission.newStructs} new items at ${STRUCT_MEMORY} B each)`,
      )
    }
    return admission
  }

  /** What the room counts against its quota: stored bytes plus the memory of its structs. */
  private memoryCost(): number {
    return this.documentBytes + this.structCount * STRUCT_MEMORY
  }

  private mayTouch(member: RoomMember, entry: AwarenessEntry): boolean {
    const owner = this.awarenessOwners.get(entry.clientID)
    if (owner === member) {
      if (entry.json === 'null') {
        this.awarenessOwners.delete(entry.clientID)
        member.awarenessIds.delete(entry.clientID)
      }
      return true
    }
    if (owner !== undefined || entry.json === 'null') return false
    const remoteSince = this.remoteAwareness.get(entry.clientID)
    if (remoteSince !== undefined) {
      // Owned on another instance: until its state is removed or times out there (a client that
      // moved here after its instance died gets its id back then).
      if (Date.now() - remoteSince < awarenessProtocol.outdatedTimeout) return false
      this.remoteAwareness.delete(entry.clientID)
    }
    if (member.awarenessIds.size >= this.options.maxAwarenessClientsPerConnection) {
      throw new PeerError(
        CloseCode.limitExceeded,
        `more than ${this.options.maxAwarenessClientsPerConnection} awareness client ids on one connection`,
      )
    }
    this.awarenessOwners.set(entry.clientID, member)
    member.awarenessIds.add(entry.clientID)
    return true
  }

  /**
   * Compacts the room's log into its snapshot. `fromDocument` encodes this document (a few ms for a
   * document under `compactFromDocumentMaxBytes`, and it drops deleted content; also used on unload
   * and after recovery); otherwise the store merges what it holds, off this thread where it can (the
   * SQLite store does it in its worker), so a big document never stalls the relay.
   */
  private requestCompaction(fromDocument = false): Promise<void> {
    if (this.compactionDone) return this.compactionDone
    const countAtRequest = this.logCount
    let acceptedAtStart = 0
    this.compactionDone = this.commits
      .compact(this.name, () => {
        // Every update committed so far goes into the snapshot; later ones are appended after it.
        this.logCount = 0
        this.logBytes = 0
        acceptedAtStart = this.acceptedBytes
        if (!fromDocument) return undefined
        const snapshot = Y.encodeStateAsUpdate(this.doc)
        // Never store what could not be read back.
        readUpdateShape(snapshot, this.options)
        return snapshot
      })
      .then((snapshotBytes) => {
        if (snapshotBytes === null) this.logCount = Math.max(this.logCount, countAtRequest)
        else {
          this.documentBytes = snapshotBytes + (this.acceptedBytes - acceptedAtStart)
          this.structCount = countStructs(this.doc)
          this.log.debug({ room: this.name, snapshotBytes }, 'room compacted')
        }
        this.compactionDone = null
      })
    return this.compactionDone
  }

  /**
   * Sends `member` a `saved` message with `entries` (client → clock, captured now: everything in
   * them is queued before this follow-up, so it is durable when it runs). Requests made before the
   * follow-up runs are merged into one message carrying only the entries that changed.
   */
  private queueSavedAck(member: RoomMember, entries: Map<number, number>): void {
    let ack = this.acks.get(member)
    if (!ack) {
      ack = { seq: 0, entries: new Map() }
      this.acks.set(member, ack)
    }
    const seq = ++ack.seq
    for (const [client, clock] of entries) ack.entries.set(client, clock)
    const pending = ack
    this.commits.afterCommit(() => {
      if (pending.seq !== seq || !this.members.has(member)) return
      const sv = pending.entries
      pending.entries = new Map()
      member.send(encodeSaved(Y.encodeStateVector(sv)))
    })
  }

  private encodeAwareness(clients: number[]): Uint8Array {
    return encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients))
  }

  private readonly onAwarenessChange = (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    // A member's own changes are relayed (and published) by applyAwareness.
    if (this.members.has(origin as RoomMember)) return
    // A member left (origin null): other instances drop its states too. Timeouts happen on every
    // instance by themselves; another instance's changes are its own to publish.
    if (origin === null && change.removed.length > 0) {
      this.bus?.publish(
        this.name,
        Kind.awareness,
        awarenessProtocol.encodeAwarenessUpdate(this.awareness, change.removed),
      )
    }
    // Server-side changes (a member left, a state timed out, another instance's change): tell
    // everyone, release ownership.
    for (const id of change.removed) {
      this.remoteAwareness.delete(id)
      const owner = this.awarenessOwners.get(id)
      if (owner) {
        this.awarenessOwners.delete(id)
        owner.awarenessIds.delete(id)
      }
    }
    const changed = [...change.added, ...change.updated, ...change.removed]
    if (changed.length === 0 || this.members.size === 0) return
    const message = this.encodeAwareness(changed)
    for (const member of this.members) member.send(message)
  }
}

/** Structs in `doc`'s struct store. */
function countStructs(doc: Y.Doc): number {
  let count = 0
  for (const structs of doc.store.clients.values()) count += structs.length
  return count
}

/** Maps a refusal from the shape reader or the admission check to the PeerError the peer gets. */
function peerErrorFor(err: unknown, what: string): PeerError {
  if (err instanceof PeerError) return err
  if ((err instanceof UpdateShapeError || err instanceof UpdateRefusal) && err.kind === 'limit') {
    return new PeerError(CloseCode.limitExceeded, `${what}: ${err.message}`)
  }
  if (err instanceof UpdateRefusal) return new PeerError(CloseCode.needsResync, `${what}: ${err.message}`)
  return new PeerError(CloseCode.invalidUpdate, `${what} is malformed: ${(err as Error).message}`, {
    cause: err,
  })
}
