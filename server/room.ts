/**
 * A room: one Yjs document and its awareness, shared by the connections in it. This is the one
 * place where accepted updates fan out: an update is applied to the document, queued for the group
 * commit, and only after it is durable relayed (the frame as received, encoded once) to every other
 * connection and announced to `onCommittedUpdate` listeners (the seam for change feeds).
 */
import * as encoding from 'lib0/encoding'
import type { Logger } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { CloseCode, encodeSaved, MessageType, SyncType } from '../shared/protocol/index.ts'
import type { CommitQueue } from './commit-queue.ts'
import { PeerError } from './errors.ts'
import type { StoredRoom } from './store/index.ts'

/** What a room needs of a connection. */
export interface RoomMember {
  readonly id: number
  /** Client opted in to the `saved` extension (`?tandem=1`). */
  readonly wantsSaved: boolean
  /** Awareness client ids this connection introduced (removed for everyone when it leaves). */
  readonly awarenessIds: Set<number>
  send(message: Uint8Array): void
}

export interface RoomOptions {
  compactAfterUpdates: number
  compactAfterBytes: number
}

type CommittedListener = (room: Room, update: Uint8Array) => void

export class Room {
  readonly doc = new Y.Doc()
  readonly awareness: awarenessProtocol.Awareness
  readonly members = new Set<RoomMember>()
  /** Updates in the store's log since the last snapshot. */
  private logCount: number
  private logBytes: number
  private ackSeq = new WeakMap<RoomMember, number>()
  private readonly committedListeners = new Set<CommittedListener>()
  destroyed = false

  constructor(
    readonly name: string,
    stored: StoredRoom,
    private readonly commits: CommitQueue,
    private readonly options: RoomOptions,
    private readonly log: Logger,
  ) {
    this.doc.transact(() => {
      if (stored.snapshot) Y.applyUpdate(this.doc, stored.snapshot)
      for (const update of stored.updates) Y.applyUpdate(this.doc, update)
    })
    this.logCount = stored.updates.length
    this.logBytes = stored.logBytes
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.awareness.setLocalState(null)
    this.awareness.on('update', this.onAwarenessChange)
  }

  /** Adds a member and starts the sync handshake with it (server's step 1, awareness, saved). */
  join(member: RoomMember): void {
    this.members.add(member)
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MessageType.sync)
    encoding.writeVarUint(encoder, SyncType.step1)
    encoding.writeVarUint8Array(encoder, Y.encodeStateVector(this.doc))
    member.send(encoding.toUint8Array(encoder))
    if (this.awareness.getStates().size > 0) {
      member.send(this.encodeAwareness([...this.awareness.getStates().keys()]))
    }
    if (member.wantsSaved) this.queueSavedAck(member)
  }

  /** Removes a member and, for everyone else, the awareness states it introduced. */
  leave(member: RoomMember): void {
    if (!this.members.delete(member)) return
    if (member.awarenessIds.size > 0) {
      awarenessProtocol.removeAwarenessStates(this.awareness, [...member.awarenessIds], null)
    }
  }

  /**
   * Applies a document update from `member`, queues it for commit, and relays it once durable.
   * `frame` is the member's frame when it is already a sync-update message (relayed as is).
   */
  applyUpdate(member: RoomMember, update: Uint8Array, frame: Uint8Array | null): void {
    // An up-to-date client answers our sync step 1 with an empty update: nothing to store or relay.
    if (isEmptyUpdate(update)) return
    try {
      Y.applyUpdate(this.doc, update, member)
    } catch (err) {
      // Yjs may have integrated part of the update before failing: make the store catch up with the
      // document as it now is, so memory and disk never diverge.
      this.requestCompaction()
      throw new PeerError(CloseCode.invalidUpdate, 'document update could not be applied', { cause: err })
    }
    this.commits.append(this.name, update)
    const relay = frame ?? encodeSyncUpdate(update)
    this.commits.afterCommit(() => {
      for (const other of this.members) if (other !== member) other.send(relay)
      for (const listener of this.committedListeners) listener(this, update)
    })
    if (member.wantsSaved) this.queueSavedAck(member)
  }

  /** Answers a sync step 1 with step 2, computed now and sent once what it contains is durable. */
  answerSyncStep1(member: RoomMember, stateVector: Uint8Array): void {
    let update: Uint8Array
    try {
      update = Y.encodeStateAsUpdate(this.doc, stateVector)
    } catch (err) {
      throw new PeerError(CloseCode.malformedMessage, 'sync step 1 carries a malformed state vector', {
        cause: err,
      })
    }
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MessageType.sync)
    encoding.writeVarUint(encoder, SyncType.step2)
    encoding.writeVarUint8Array(encoder, update)
    const message = encoding.toUint8Array(encoder)
    this.commits.afterCommit(() => member.send(message))
  }

  /**
   * Applies an awareness update from `member` and relays the frame to every member, the sender
   * included: as with y-websocket's server, the echo of its periodic (15 s) awareness renewal is
   * what keeps a client alone in a room from hitting the provider's 30 s silence reconnect.
   */
  applyAwareness(member: RoomMember, update: Uint8Array, frame: Uint8Array): void {
    try {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, update, member)
    } catch (err) {
      throw new PeerError(CloseCode.invalidUpdate, 'awareness update could not be applied', { cause: err })
    }
    for (const other of this.members) other.send(frame)
  }

  /** Sends `member` every awareness state in the room. */
  answerQueryAwareness(member: RoomMember): void {
    member.send(this.encodeAwareness([...this.awareness.getStates().keys()]))
  }

  /** Subscribes to updates once they are committed; returns the unsubscribe function. */
  onCommittedUpdate(listener: CommittedListener): () => void {
    this.committedListeners.add(listener)
    return () => this.committedListeners.delete(listener)
  }

  /** Accounts for updates of this room that were just committed; compacts past the thresholds. */
  noteCommitted(count: number, bytes: number): void {
    this.logCount += count
    this.logBytes += bytes
    if (
      this.logCount >= this.options.compactAfterUpdates ||
      this.logBytes >= this.options.compactAfterBytes
    ) {
      this.requestCompaction()
    }
  }

  /** Merges the log into one snapshot (if there is a log). Resolves once done or failed. */
  async compact(): Promise<void> {
    if (this.logCount === 0 && !this.compactionDone) return
    await this.requestCompaction()
  }

  /** Releases the document and awareness (the room must be empty and flushed). */
  destroy(): void {
    this.destroyed = true
    this.awareness.off('update', this.onAwarenessChange)
    this.awareness.destroy()
    this.doc.destroy()
  }

  private compactionDone: Promise<void> | null = null

  private requestCompaction(): Promise<void> {
    if (this.compactionDone) return this.compactionDone
    const countAtRequest = this.logCount
    this.compactionDone = this.commits
      .compact(this.name, () => {
        // Everything applied to the doc is in the snapshot, so every log entry committed so far is too.
        this.logCount = 0
        this.logBytes = 0
        return Y.encodeStateAsUpdate(this.doc)
      })
      .then((ok) => {
        if (!ok) this.logCount = Math.max(this.logCount, countAtRequest)
        else this.log.debug({ room: this.name }, 'room compacted')
        this.compactionDone = null
      })
    return this.compactionDone
  }

  /** Sends `member` the state vector of what is durable so far (coalesced to the latest request). */
  private queueSavedAck(member: RoomMember): void {
    const seq = (this.ackSeq.get(member) ?? 0) + 1
    this.ackSeq.set(member, seq)
    // Captured now: everything in it is queued before this follow-up, so it is durable when it runs.
    const stateVector = Y.encodeStateVector(this.doc)
    this.commits.afterCommit(() => {
      if (this.ackSeq.get(member) === seq) member.send(encodeSaved(stateVector))
    })
  }

  private encodeAwareness(clients: number[]): Uint8Array {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MessageType.awareness)
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients))
    return encoding.toUint8Array(encoder)
  }

  private readonly onAwarenessChange = (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    if (this.members.has(origin as RoomMember)) {
      // From a member: track what it owns; its frame is relayed by applyAwareness.
      const owned = (origin as RoomMember).awarenessIds
      for (const id of change.added) owned.add(id)
      for (const id of change.removed) owned.delete(id)
      return
    }
    // Server-side changes (a member left, a state timed out): tell everyone.
    const changed = [...change.added, ...change.updated, ...change.removed]
    if (changed.length === 0 || this.members.size === 0) return
    const message = this.encodeAwareness(changed)
    for (const member of this.members) member.send(message)
  }
}

/** An update with no structs and an empty delete set (`[0, 0]` in Yjs' V1 encoding). */
export function isEmptyUpdate(update: Uint8Array): boolean {
  return update.length === 2 && update[0] === 0 && update[1] === 0
}

function encodeSyncUpdate(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.sync)
  encoding.writeVarUint(encoder, SyncType.update)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}
