/**
 * A room: one Yjs document shared by the connections in it. This is the one place where accepted
 * updates fan out: an update is admitted (shape, then what it would cost this document, see
 * room-admission.ts), applied, queued for the group commit, and only after it is durable relayed
 * (the frame as received, encoded once) to every other connection and counted toward compaction
 * (see room-footprint.ts). Every update applied is a change with a text delta; the store numbers
 * what the room commits, and the room's change log (`changes`, room-changes.ts) keeps the text at
 * the latest id and tells listeners of each change once durable. Data flows one way: connection →
 * room → commit queue → store → the room's follow-ups.
 *
 * The server writes too (the HTTP API): `applyLocal` admits and applies an update exactly as a
 * socket's, `editText` edits the text in one transaction; both are committed and relayed to every
 * connection as a member's update is, and resolve with their change id once durable.
 *
 * With a bus (several instances sharing one store, see fanout/), what a room commits is also
 * published to the room's other instances once durable, and what they publish is applied here and
 * relayed to this room's connections (`applyRemote`); `mergeStored` catches up from the store
 * when the bus may have dropped something. An instance's own connections never wait for the bus.
 *
 * The room's presence lives beside the document (room-awareness.ts), and the `saved` extension's
 * acknowledgements in saved-acks.ts.
 */
import type { Logger } from 'pino'
import * as Y from 'yjs'
import {
  CloseCode,
  encodeStorage,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeSyncUpdate,
  StorageState,
} from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'
import type { Admission } from '../admission/update-admission.ts'
import { isEmptyUpdate } from '../admission/update-shape.ts'
import { MAX_SLICE_BYTES, sliceBytes, sliceDeletes, sliceStructs } from '../admission/update-slices.ts'
import { displayName, identityOf, type WriteAuthor } from '../authorship/identity.ts'
import { RoomAuthors } from '../authorship/room-authors.ts'
import type { ServerConfig } from '../config/config.ts'
import {
  type BusKind,
  type ChangeEntry,
  decodeChangeEntry,
  encodeChangeEntry,
  BusKind as Kind,
} from '../fanout/bus-message.ts'
import type { RoomPublisher } from '../fanout/room-bus.ts'
import type { RelayMetrics } from '../ops/metrics.ts'
import type { AuthorStore } from '../store/history-store.ts'
import type { StoredRoom } from '../store/index.ts'
import { ROOM_TEXT, type RoomChangeLog, type TextDelta } from './change-log.ts'
import type { CommitQueue } from './commit-queue.ts'
import { type AdmissionConfig, MAX_STEPS, peerErrorFor, RoomAdmission } from './room-admission.ts'
import { type AwarenessConfig, RoomAwareness } from './room-awareness.ts'
import { RoomChanges, RoomUnloadedError } from './room-changes.ts'
import { type FootprintConfig, RoomFootprint, STRUCT_MEMORY } from './room-footprint.ts'
import type { RoomMember } from './room-member.ts'
import { restoreDoc, type SetAside } from './room-restore.ts'
import { SavedAcks } from './saved-acks.ts'
import type { SequencerStore } from './sequencer.ts'
import { SyncReplyCache } from './sync-reply-cache.ts'
import { nextTurn } from './turns.ts'

export type { RoomChangeLog, SequencedChange, TextDelta } from './change-log.ts'
export { RoomUnloadedError } from './room-changes.ts'
export type { RoomMember } from './room-member.ts'

/** The slice of the server's config a room applies (each documented in config.ts). */
export type RoomConfig = AdmissionConfig &
  FootprintConfig &
  AwarenessConfig &
  Pick<ServerConfig, 'feedKeepChanges'>

export interface RoomOptions {
  /** The room's name: its key in the store and on the bus. */
  name: string
  /** What the store holds for it (the document is restored from it, see room-restore.ts). */
  stored: StoredRoom
  /**
   * The latest change the store held for it, read with `stored` (id 0, at null: none); `exact`
   * false (with a bus) when the two were not read consistently (see sequencer.ts).
   */
  latest: { id: number; at: number | null; exact?: boolean }
  /** Where the room's changes are numbered (and, with a bus, re-read and their deltas filled in). */
  store: SequencerStore
  /** The group commit every accepted update goes through (shared by the process's rooms). */
  commits: CommitQueue
  /** Its bounds, budgets and compaction thresholds: its slice of the server's config. */
  config: RoomConfig
  /** Where it logs what an operator should hear of (quota, resync, compaction). */
  log: Logger
  /** The bus to the room's other instances; null or absent without one. */
  bus?: RoomPublisher | null
  /** Times each document update's apply and counts refusals and slices (see metrics.ts). */
  metrics?: RelayMetrics
  /** Where client ids are bound to authors (authorship/room-authors.ts); null or absent: not enforced. */
  authors?: AuthorStore | null
}

/** With a bus: how long a change id may be missing while later ones wait, and how many may wait. */
const SEQUENCE_GAP_MS = 1_000
const SEQUENCE_MAX_BUFFERED = 10_000
const SEQUENCE_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/** Origin of what a resync applies from the store (relayed by `mergeStored` itself). */
const RESYNC = Symbol('resync')
/** Origin of the transactions that apply what another instance committed. */
const REMOTE = Symbol('remote')

/**
 * A write the server makes itself (an HTTP write), credited to `author`: the origin of its
 * transaction, and not a member, so every member hears it.
 */
class ServerWrite {
  constructor(readonly author: string | null) {}
}

/** Who an update the room commits comes from. */
type Writer = RoomMember | ServerWrite

export class Room {
  readonly name: string
  readonly doc = new Y.Doc()
  readonly members = new Set<RoomMember>()
  /** Presence in this room, and which connection owns which awareness client id. */
  readonly awareness: RoomAwareness
  /** What could not be restored from the store when the room loaded (empty when all was fine). */
  setAside: SetAside[] = []
  /** Who each client id writes for (null without an author store). */
  authors: RoomAuthors | null = null
  destroyed = false
  /** The room's numbered changes: the text at the latest id, recent changes, listeners. */
  readonly changes: RoomChangeLog
  /** Test hooks, not API: sync-step-2 replies encoded (shared ones count once). */
  readonly __test = { syncReplyEncodes: 0 }
  private readonly commits: CommitQueue
  private readonly config: RoomConfig
  private readonly log: Logger
  private readonly bus: RoomPublisher | null
  private readonly metrics: RelayMetrics | undefined
  private readonly footprint: RoomFootprint
  private readonly admission: RoomAdmission
  private readonly changeLog: RoomChanges
  private readonly saved: SavedAcks
  private readonly fullSync = new SyncReplyCache()

  /**
   * Loads a room from what the store holds (see room-restore.ts: a big stored state is applied in
   * slices, one per event-loop turn, so loading never stalls the other rooms for long).
   */
  static async open(options: RoomOptions): Promise<Room> {
    const room = new Room(options)
    const { config, log } = options
    room.setAside = await restoreDoc(room.doc, options.stored, {
      maxJsonDepth: config.maxJsonDepth,
      budget: config.maxUpdateWork,
    })
    room.footprint.recount()
    if (options.authors) room.authors = await RoomAuthors.load(room.name, options.authors, room.doc)
    await room.changeLog.begin(options.stored)
    const cost = room.footprint.cost
    if (cost > config.maxDocumentBytes) {
      log.warn(
        { room: room.name, cost, quota: config.maxDocumentBytes },
        'room loaded past its quota (stored before the quota counted memory): it accepts no update that adds to it',
      )
    }
    return room
  }

  private constructor(options: RoomOptions) {
    const { name, commits, config, log, metrics } = options
    this.name = name
    this.commits = commits
    this.config = config
    this.log = log
    this.bus = options.bus ?? null
    this.metrics = metrics
    const doc = this.doc
    this.footprint = new RoomFootprint({ name, doc, stored: options.stored, commits, config, log })
    this.admission = new RoomAdmission({ doc, footprint: this.footprint, config, metrics })
    this.changeLog = new RoomChanges({
      name,
      doc,
      commits,
      store: options.store,
      latest: options.latest,
      keep: config.feedKeepChanges,
      log,
      sequence: this.bus && {
        store: options.store,
        restore: { maxJsonDepth: config.maxJsonDepth, budget: config.maxUpdateWork },
        merge: (stored) => this.merge(stored),
        gapMs: SEQUENCE_GAP_MS,
        maxBuffered: SEQUENCE_MAX_BUFFERED,
        maxBufferedBytes: SEQUENCE_MAX_BUFFERED_BYTES,
        exact: options.latest.exact ?? true,
      },
    })
    this.changes = this.changeLog
    this.saved = new SavedAcks(doc, commits, this.members)
    this.awareness = new RoomAwareness({ name, doc, members: this.members, config, log, bus: this.bus })
  }

  /** The room's stored size in bytes: snapshot and log, as counted for its quota (an estimate until compacted). */
  get storedBytes(): number {
    return this.footprint.storedBytes
  }

  /** Adds a member and starts the sync handshake with it (server's step 1, awareness, saved, storage). */
  join(member: RoomMember): void {
    this.members.add(member)
    member.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    if (this.awareness.size > 0) member.send(this.awareness.encodeAll())
    if (member.wantsSaved) {
      this.saved.queueAll(member)
      if (this.commits.failures > 0) member.send(encodeStorage(StorageState.failing))
    }
  }

  /** Removes a member and, for everyone else, the awareness states it introduced. */
  leave(member: RoomMember): void {
    if (!this.members.delete(member)) return
    this.awareness.release(member)
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
      admission = this.admission.admit(received, MAX_STEPS)
    } catch (err) {
      throw peerErrorFor(err, 'document update')
    }
    const update = admission.update
    // Nothing in it is new (a re-sent deletion, structs the room holds): nothing to do.
    if (update === null) return
    // A client id not bound yet: bound durably first, then admitted again (the room may have moved).
    const binding = this.authors?.admit(admission.shape, (clients) =>
      this.authors!.memberIdentity(member, this.awareness.states.getStates(), clients),
    )
    if (binding) {
      return binding.then(() => {
        if (!this.destroyed && this.members.has(member)) return this.applyUpdate(member, received, frame)
      })
    }
    // Past a turn's work, or (with other instances) too big to reach them as one ordinary frame.
    const tooBig = this.bus !== null && update.byteLength > MAX_SLICE_BYTES
    if (admission.work > this.config.maxUpdateWork || tooBig) {
      return this.applyInSteps(member, admission).catch((err) => {
        throw peerErrorFor(err, 'document update')
      })
    }
    this.commitApplied(member, admission, frame && update === received ? frame : null)
    if (member.wantsSaved) this.saved.queueFor(member, admission.shape)
  }

  /**
   * Checks and applies a document update the server writes itself (the HTTP API) on behalf of
   * `author`: the same admission as a socket's update (shape, work, quota; in slices when costly),
   * then committed and relayed to every member. Resolves with its change id once durable (the last
   * slice's; the latest id when it holds nothing new). Rejects with the PeerError a socket would be
   * closed with, or RoomUnloadedError when the room unloads first.
   */
  async applyLocal(received: Uint8Array, author: WriteAuthor): Promise<number> {
    if (this.destroyed) throw new RoomUnloadedError(this.name)
    if (isEmptyUpdate(received)) return this.changeLog.settled()
    let admission: Admission
    try {
      admission = this.admission.admit(received, MAX_STEPS)
    } catch (err) {
      throw peerErrorFor(err, 'document update')
    }
    if (admission.update === null) return this.changeLog.settled()
    const binding = this.authors?.admit(admission.shape, () => identityOf(author))
    if (binding) return binding.then(() => this.applyLocal(received, author))
    const writer = new ServerWrite(displayName(author))
    const tooBig = this.bus !== null && admission.update.byteLength > MAX_SLICE_BYTES
    if (admission.work > this.config.maxUpdateWork || tooBig) {
      try {
        await this.applyInSteps(writer, admission)
      } catch (err) {
        throw peerErrorFor(err, 'document update')
      }
    } else this.commitApplied(writer, admission, null)
    return this.changeLog.settled()
  }

  /**
   * Edits the room's text on behalf of `author`: runs `edit` on the text (`ROOM_TEXT`) in one
   * transaction, then commits and relays what it did to every member. Resolves with its change id
   * once durable (the latest id when it changed nothing). `inserted` (the units `edit` inserts)
   * is checked against the quota first: a room at its quota refuses with the PeerError a socket
   * would get (4413). If `edit` throws, what it did is committed all the same, and the promise
   * rejects with its error. Rejects with RoomUnloadedError when the room unloads first.
   */
  editText(edit: (text: Y.Text) => void, author: WriteAuthor, inserted = 0): Promise<number> {
    if (this.destroyed) return Promise.reject(new RoomUnloadedError(this.name))
    // Written under a client id of the server's own bound to the author (authorship/room-authors.ts).
    const identity = identityOf(author)
    const client = this.authors?.ownClient(identity) ?? null
    if (this.authors && client === null) {
      if (this.doc.store.clients.size >= this.config.maxRoomClients) {
        return Promise.reject(
          new PeerError(CloseCode.limitExceeded, `document holds ${this.config.maxRoomClients} client ids`),
        )
      }
      return this.authors.makeOwnClient(identity).then(() => this.editText(edit, author, inserted))
    }
    const quota = this.config.maxDocumentBytes
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a struct or two besides.
    if (this.footprint.cost + inserted * 3 + 2 * STRUCT_MEMORY > quota) {
      this.footprint.reclaim()
      this.metrics?.updateRefused('quota')
      return Promise.reject(
        new PeerError(
          CloseCode.limitExceeded,
          `text edit: the document would exceed its quota of ${quota} bytes`,
        ),
      )
    }
    const writer = new ServerWrite(displayName(author))
    let update: Uint8Array | null = null
    let newStructs = 0
    const capture = (bytes: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
      if (origin !== writer) return
      update = bytes
      newStructs = addedStructs(transaction)
    }
    let failure: { err: unknown } | null = null
    const serverClient = this.doc.clientID
    if (client !== null) this.doc.clientID = client
    this.doc.on('update', capture)
    try {
      this.doc.transact(() => edit(this.doc.getText(ROOM_TEXT)), writer)
    } catch (err) {
      failure = { err }
    } finally {
      this.doc.off('update', capture)
      this.doc.clientID = serverClient
      if (client !== null) this.authors?.wrote(identity, client)
    }
    const delta = this.changeLog.take()
    if (update) this.commitChange(writer, update, delta, newStructs, null)
    if (failure) return Promise.reject(failure.err)
    return this.changeLog.settled()
  }

  /**
   * Applies an admitted update too costly for one turn as slices of at most half the budget, one
   * per event-loop turn (see update-slices.ts); each slice is admitted, applied and relayed like an
   * update of its own (committed first when it comes from `writer`; null: from another instance,
   * already durable). Resolves when all are applied; rejects with the error that stopped it. Stops
   * early (what was applied stays) if the member leaves or the room unloads.
   */
  private async applyInSteps(writer: Writer | null, admission: Admission): Promise<void> {
    const target = this.config.maxUpdateWork / 2
    const member = writer instanceof ServerWrite ? null : writer
    const gone = () => this.destroyed || (member !== null && !this.members.has(member))
    const { shape } = admission
    const structs = shape.structCount > 0 ? sliceStructs(this.doc, admission.update!, shape, target) : []
    let slices = structs.length
    for (const slice of structs) {
      await nextTurn()
      if (gone()) return
      this.applySlice(writer, sliceBytes(slice))
    }
    await nextTurn()
    if (gone()) return
    const deletes = sliceDeletes(this.doc, admission.deletes, target)
    slices += deletes.length
    for (const slice of deletes) {
      await nextTurn()
      if (gone()) return
      this.applySlice(writer, sliceBytes(slice))
    }
    this.metrics?.updateSliced(slices)
    if (member?.wantsSaved) this.saved.queueFor(member, admission.shape)
  }

  /** Admits and applies one slice of a larger update (see applyInSteps). */
  private applySlice(writer: Writer | null, slice: Uint8Array): void {
    const admission = this.admission.admit(slice, 1)
    if (admission.update === null) return
    if (writer) {
      this.commitApplied(writer, admission, null)
      return
    }
    this.changeLog.remote(this.changeLog.apply(admission.update, REMOTE))
    this.relayRemote(admission.update, admission.newStructs)
  }

  /**
   * Applies an admitted update from `writer`, queues it for commit, and relays it once durable.
   * `frame` is the member's frame when it is already a sync-update message of exactly the update.
   */
  private commitApplied(writer: Writer, admission: Admission, frame: Uint8Array | null): void {
    const update = admission.update!
    const started = this.metrics ? performance.now() : 0
    let delta: TextDelta
    try {
      delta = this.changeLog.apply(update, writer)
      this.metrics?.updateApplied((performance.now() - started) / 1000)
    } catch (err) {
      // Yjs may have integrated part of the update before failing: make the store catch up with the
      // document as it now is, so memory and disk never diverge.
      this.fullSync.clear()
      void this.footprint.requestCompaction(true)
      throw new PeerError(CloseCode.invalidUpdate, 'document update could not be applied', { cause: err })
    }
    this.commitChange(writer, update, delta, admission.newStructs, frame)
  }

  /**
   * Queues an update `writer` just applied (which made `delta` and added `newStructs`) for commit,
   * credited to its author, and relays it once durable to every member but `writer`.
   */
  private commitChange(
    writer: Writer,
    update: Uint8Array,
    delta: TextDelta,
    newStructs: number,
    frame: Uint8Array | null,
  ): void {
    this.footprint.accepted(update, newStructs)
    const author = writer instanceof ServerWrite ? writer.author : this.awareness.nameOf(writer)
    const change = this.changeLog.own(delta, author, update)
    this.commits.append(this.name, update, change)
    const relay = frame ?? encodeSyncUpdate(update)
    this.fullSync.applied(relay)
    this.commits.afterCommit(() => {
      for (const other of this.members) if (other !== writer) other.send(relay)
      // With its change id, so other instances sequence it (a store that gave none: they re-read).
      if (this.bus && change.id > 0) {
        this.bus.publish(
          this.name,
          Kind.change,
          encodeChangeEntry({ id: change.id, at: change.at, author, update }),
        )
      } else this.bus?.publish(this.name, Kind.resync, new Uint8Array(0))
      this.footprint.committed(update)
    })
  }

  /** True unless `update` holds only what the document already has (see update-known.ts). */
  wouldChange(update: Uint8Array): boolean {
    return this.admission.wouldChange(update)
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
        this.__test.syncReplyEncodes++
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
   * Applies an awareness update from `member` and relays it to every member, the sender included
   * (see RoomAwareness.apply). Throws PeerError: 4422 when malformed, 4413 past a bound.
   */
  applyAwareness(member: RoomMember, update: Uint8Array, frame: Uint8Array): void {
    this.awareness.apply(member, update, frame)
  }

  /** Sends `member` every awareness state in the room. */
  answerQueryAwareness(member: RoomMember): void {
    member.send(this.awareness.encodeAll())
  }

  /**
   * Applies what another instance published for this room (a committed update, or an awareness
   * update) and relays it to this room's connections. An update passes the same admission as a
   * client's (and is applied in slices when it costs more than one turn's budget). A `change`
   * (an update with its id) goes to the change sequencer once applied; an `update` without an id
   * makes the sequence re-read from the store. Returns (or resolves to) false when the room should
   * be re-read from the store instead.
   */
  applyRemote(kind: BusKind, received: Uint8Array): boolean | Promise<boolean> {
    let payload = received
    if (kind === Kind.awareness) {
      this.awareness.applyRemote(payload)
      return true
    }
    if (kind !== Kind.update && kind !== Kind.change) return true
    let change: ChangeEntry | null = null
    if (kind === Kind.change) {
      try {
        change = decodeChangeEntry(payload)
      } catch (err) {
        this.log.warn({ err, room: this.name }, 'refused a change entry from another instance')
        return false
      }
      payload = change.update
    } else this.changeLog.unsequenced()
    // The sequencer takes it once the document holds it (see room-changes.ts).
    const sequence = () => {
      if (change) this.changeLog.remoteChange(change)
    }
    if (isEmptyUpdate(payload)) {
      sequence()
      return true
    }
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
      admission = this.admission.admit(payload, MAX_STEPS)
      if (admission.update === null) {
        sequence()
        return true
      }
      if (admission.work > this.config.maxUpdateWork) {
        return this.applyInSteps(null, admission).then(() => {
          sequence()
          return true
        }, refused)
      }
      this.changeLog.remote(this.changeLog.apply(admission.update, REMOTE))
    } catch (err) {
      return refused(err)
    }
    this.relayRemote(admission.update, admission.newStructs)
    sequence()
    return true
  }

  /**
   * Brings the document up to date with what the store holds (another instance's updates the bus
   * may have dropped) and relays whatever was new to this room's connections. With a bus, the
   * change sequence is then re-read from the store too (it may have missed ids the same way).
   */
  async mergeStored(stored: StoredRoom): Promise<void> {
    await this.merge(stored)
    if (!this.destroyed) this.changeLog.unsequenced()
  }

  /** `mergeStored` without re-reading the change sequence (what the sequencer's restart merges). */
  private async merge(stored: StoredRoom): Promise<void> {
    const missing: Uint8Array[] = []
    const capture = (update: Uint8Array, origin: unknown) => {
      if (origin !== RESYNC) return
      missing.push(update)
      this.changeLog.remote(this.changeLog.take())
    }
    this.doc.on('update', capture)
    try {
      const failed = await restoreDoc(this.doc, stored, {
        maxJsonDepth: this.config.maxJsonDepth,
        budget: this.config.maxUpdateWork,
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
    this.footprint.recount()
    for (const update of missing) this.relayRemote(update, 0)
  }

  /**
   * Relays an update that is already durable (another instance committed it) to every member and
   * counts it (`newStructs`: the structs it added, when not counted otherwise).
   */
  private relayRemote(update: Uint8Array, newStructs: number): void {
    this.footprint.remote(update, newStructs)
    const frame = encodeSyncUpdate(update)
    this.fullSync.applied(frame)
    for (const member of this.members) member.send(frame)
  }

  /** Tells members that opted in whether the store is saving (see `StorageState`). */
  announceStorage(state: (typeof StorageState)[keyof typeof StorageState]): void {
    const message = encodeStorage(state)
    for (const member of this.members) if (member.wantsSaved) member.send(message)
  }

  /**
   * Rewrites the stored room as one snapshot encoded from this document (if there is a log, or the
   * load set something aside). Resolves once done or failed. Used on unload and after recovery.
   */
  compact(): Promise<void> {
    return this.footprint.compact(this.setAside.length > 0)
  }

  /** Releases the document and awareness (the room must be empty and flushed). */
  destroy(): void {
    this.destroyed = true
    this.admission.destroy()
    this.fullSync.clear()
    this.changeLog.destroy()
    this.awareness.destroy()
    this.doc.destroy()
  }
}

/** Structs `transaction` added to the document (the count the quota is charged for). */
function addedStructs(transaction: Y.Transaction): number {
  let count = 0
  for (const [client, after] of transaction.afterState) {
    const before = transaction.beforeState.get(client) ?? 0
    if (after <= before) continue
    const structs = transaction.doc.store.clients.get(client)
    if (structs) count += structs.length - Y.findIndexSS(structs, before)
  }
  return count
}
