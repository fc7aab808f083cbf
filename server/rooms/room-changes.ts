/**
 * The seam for change feeds (and, later, history): every change a room applies to its document
 * goes through `apply` (or, for what a resync restores from the store, `take`), and listeners hear
 * of each one once it is durable, in the order the room applied them, with the update as committed,
 * who made it, and what it did to the room's text as a delta (retain / insert / delete runs, as
 * `Y.Text` observers get it).
 *
 * The delta is computed while the transaction that applied the change is live (Yjs cannot compute
 * it afterwards), and only while someone listens: with no listener, applying a change costs nothing
 * here. A listener hears every change applied after it subscribed; one applied before (even if it
 * becomes durable after) is in the store by the time the commit queue has run what was queued
 * before the subscription (`CommitQueue.afterCommit`), which is where a feed reads the past from.
 * Each delta applies to the text as the room held it just before, so consecutive deltas compose in
 * the order they are delivered.
 */
import type { Logger } from 'pino'
import * as Y from 'yjs'
import type { CommitQueue } from './commit-queue.ts'
import type { RoomMember } from './room-member.ts'

/**
 * The `Y.Text` a room's text is: the one the editor binds (`TEXT_NAME` in client/src/editor.ts;
 * tests/room-changes.test.ts checks they agree).
 */
export const ROOM_TEXT = 'codemirror'

/** A change to the text, as `Y.YTextEvent.delta` gives it (empty when the text did not change). */
export type TextDelta = Y.YTextEvent['delta']

/** One change a room committed. */
export interface CommittedChange {
  /** The update as the room applied it and the store holds it. */
  readonly update: Uint8Array
  /**
   * Who made it: the member (connection) of this room that sent it, or `remote` when another
   * instance committed it (relayed by the bus, or found in the shared store on a resync).
   */
  readonly from: RoomMember | 'remote'
  /** What it did to the room's text (`ROOM_TEXT`). */
  readonly textDelta: TextDelta
}

/** Hears a committed change; called once per change and listener, in order. */
export type CommittedListener = (change: CommittedChange) => void

/** A change applied while someone listened, waiting to be durable. */
export interface PendingChange {
  readonly change: CommittedChange
  /** The listeners subscribed when it was applied (one that unsubscribed since is skipped). */
  readonly audience: readonly CommittedListener[]
}

/** Origin of the transactions that apply changes another instance committed. */
const REMOTE = Symbol('remote')

export class RoomChanges {
  private readonly listeners = new Set<CommittedListener>()
  /** What the last transaction that touched the text did to it, until `take` reads it. */
  private delta: TextDelta | null = null

  constructor(
    private readonly doc: Y.Doc,
    private readonly commits: CommitQueue,
    private readonly room: string,
    private readonly log: Logger,
  ) {}

  /** Subscribes to changes applied from now on, each heard once durable; returns the unsubscribe. */
  subscribe(listener: CommittedListener): () => void {
    this.listeners.add(listener)
    if (this.listeners.size === 1) this.doc.on('afterTransaction', this.onTransaction)
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) {
        this.doc.off('afterTransaction', this.onTransaction)
      }
    }
  }

  /**
   * Applies `update` to the document (one Yjs transaction, whose origin is the member or, for
   * `remote`, this module's own). Returns the change to hand to `deliver` once durable, or null
   * when nobody listens. Throws what Yjs threw.
   */
  apply(update: Uint8Array, from: RoomMember | 'remote'): PendingChange | null {
    this.delta = null
    try {
      Y.applyUpdate(this.doc, update, from === 'remote' ? REMOTE : from)
    } catch (err) {
      this.delta = null
      throw err
    }
    return this.take(update, from)
  }

  /**
   * Notes a change the document just applied outside `apply` (call right after its transaction,
   * from the document's `update` event): returns it for `deliver`, or null when nobody listens.
   */
  take(update: Uint8Array, from: RoomMember | 'remote'): PendingChange | null {
    const textDelta = this.delta ?? []
    this.delta = null
    if (this.listeners.size === 0) return null
    return { change: { update, from, textDelta }, audience: [...this.listeners] }
  }

  /** Delivers `pending` now (its update is durable). A listener that throws is logged and skipped. */
  deliver(pending: PendingChange | null): void {
    if (!pending) return
    for (const listener of pending.audience) {
      if (!this.listeners.has(listener)) continue
      try {
        listener(pending.change)
      } catch (err) {
        this.log.error({ err, room: this.room }, 'a committed-change listener threw')
      }
    }
  }

  /**
   * Delivers `pending` (already durable: another instance committed it) after the changes this
   * room applied before it, so listeners hear every change in the order the room applied them.
   */
  deliverInOrder(pending: PendingChange | null): void {
    if (pending) this.commits.afterCommit(() => this.deliver(pending))
  }

  /** Stops computing deltas (the room is going away). */
  destroy(): void {
    this.listeners.clear()
    this.doc.off('afterTransaction', this.onTransaction)
  }

  private readonly onTransaction = (transaction: Y.Transaction): void => {
    const text = this.doc.share.get(ROOM_TEXT)
    const changed = text && transaction.changed.get(text)
    // The type may still be Yjs' placeholder for a root nobody asked for by kind; its items are the
    // text's all the same.
    if (changed) this.delta = new Y.YTextEvent(text as unknown as Y.Text, transaction, changed).delta
  }
}
