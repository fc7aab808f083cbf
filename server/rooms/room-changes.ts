/**
 * A room's change log (`RoomChangeLog`, change-log.ts): every update the room applies to its
 * document goes through here, with the delta it made to the room's text (text-deltas.ts, computed
 * for every update, a few microseconds for typing). What the room commits itself is queued for the
 * group commit with its author (`QueuedChange`); the store numbers it, and the id comes back in
 * commit order.
 *
 * On one instance (no bus) each change is then, in the order the room applied it: applied to the
 * text at the latest id (a Rope), kept in memory (the last `keep`), and handed to the listeners.
 * This is exact: the room applies updates in the order it commits them, so each delta applies to
 * the text after the change numbered before it; the text at `latestId` is the document's text
 * whenever nothing is pending, and the document's text is always `text()` then `pending()`. Ids
 * continue from what the store holds across restarts. Nothing of the bus mode below is created.
 *
 * With other instances (bus mode, `sequence` given): two instances committing to one room at once
 * apply updates in different orders, so a delta computed on the room's document may not apply to
 * the text at the id before it. A per-room sequencer (sequencer.ts) keeps a shadow copy of the
 * document that takes every committed change strictly in id order: this room's own as the store
 * numbers them, other instances' by the id their bus entry carries (`change` entries,
 * fanout/bus-message.ts), out-of-order ones buffered. The delta computed on the shadow is exact in
 * id order, and it drives everything here: `latestId`, `text()`, `since()` and the listeners see
 * every change, own and remote, in id order. Own changes are stored without a delta and the
 * sequencer fills it in (`setChangeDelta`). A gap (an id that does not come within the sequencer's
 * wait, or too many waiting, or a resync) restarts the sequence from the store: the changes it
 * skipped are replayed from their stored updates and heard in id order, as live ones (their
 * deltas written where the store lacks them); only when that cannot be done (rows stored before
 * updates were kept, more than the replay bound) are they not heard here, and memory forgets
 * (`since` answers null below the new id; readers go to the store). Readers (the feed, text edits)
 * read the store only up to `latestId`, what this log has sequenced, and take a change stored
 * without its delta yet (another instance's, its committer has not written it) from memory. In bus mode `pending()` is the delta from the shadow's text
 * to the document's, computed by item identity (the document holds everything the shadow holds:
 * remote changes are sequenced after they are applied to it, own ones are in it, a restart merges
 * what it read into it first), so the document's text is still `text()` then `pending()`; it
 * costs a walk of the text's items (12 ms for the automerge-paper text, 105,000 units), paid by
 * an HTTP text edit. A write resolves once its change is sequenced, with its own id. The shadow
 * about doubles the memory a room's document takes (automerge-paper: 3.4 MB document, 2.7 MB
 * shadow); a single instance never builds it.
 */
import type { Logger } from 'pino'
import * as Y from 'yjs'
import { compose } from '../../shared/ot/compose.ts'
import { deleteLength } from '../../shared/ot/op.ts'
import { deltaToOp } from '../../shared/ot/rebase.ts'
import { Rope } from '../../shared/ot/rope.ts'
import type { ChangeEntry } from '../fanout/bus-message.ts'
import type { ChangeStore, StoredRoom } from '../store/index.ts'
import type { ChangeListener, RoomChangeLog, SequencedChange, TextDelta } from './change-log.ts'
import { ROOM_TEXT } from './change-log.ts'
import type { CommitQueue, QueuedChange } from './commit-queue.ts'
import { Sequencer, type SequencerOptions } from './sequencer.ts'
import { roomText, TextDeltas } from './text-deltas.ts'

/** Thrown (as a rejection) to a write waiting on a room that unloaded. */
export class RoomUnloadedError extends Error {
  override readonly name = 'RoomUnloadedError'
  constructor(room: string) {
    super(`room ${room} unloaded before the write was durable`)
  }
}

export interface RoomChangesOptions {
  name: string
  doc: Y.Doc
  commits: CommitQueue
  /** Where the latest id is re-read after another instance's change. */
  store: Pick<ChangeStore, 'changesSince'>
  /** The latest change the store held when the room loaded. */
  latest: { id: number; at: number | null }
  /** Committed changes kept in memory for `since` (`feedKeepChanges`). */
  keep: number
  log: Logger
  /**
   * With other instances: what the change sequencer needs (see sequencer.ts); `exact` false when
   * `latest` was not read consistently with the loaded state (the sequence restarts at once).
   */
  sequence?:
    | (Pick<
        SequencerOptions,
        'store' | 'restore' | 'merge' | 'gapMs' | 'maxBuffered' | 'maxBufferedBytes'
      > & { exact: boolean })
    | null
}

const EMPTY: TextDelta = []

/** A change the room queued for commit: its id and time once committed (0 until then). */
export interface OwnChange extends QueuedChange {
  readonly id: number
  readonly at: number
}

/** A change applied to the document, until it is taken into the text at the latest id. */
class PendingChange implements OwnChange {
  /** Set once committed (this room's own); remote changes stay 0. */
  id = 0
  at = 0
  /** Committed (own) or known durable elsewhere (remote): may be taken into the text. */
  ready = false
  /** JSON of the delta, for the store (null in bus mode: the sequencer fills it in). */
  readonly delta: string | null

  constructor(
    private readonly log: RoomChanges,
    readonly textDelta: TextDelta,
    readonly author: string | null,
    readonly remote: boolean,
    /** Bus mode: the update, for the sequencer. */
    readonly update: Uint8Array | null = null,
  ) {
    this.delta = remote || update ? null : JSON.stringify(textDelta)
  }

  /** CommitQueue: this change is durable as change `id`. */
  committed(id: number, at: number): void {
    this.id = id
    this.at = at
    this.log.committed(this)
  }
}

export class RoomChanges implements RoomChangeLog {
  private latest: number
  private latestTime: number | null
  private rope = new Rope()
  private readonly deltas: TextDeltas
  /** What the last transaction did to the text, until `take` reads it. */
  private delta: TextDelta | null = null
  /** Applied, not yet in the text: in the order applied, from `head` on. */
  private queue: PendingChange[] = []
  private head = 0
  /** The last committed changes, oldest first, contiguous up to `latest` (a ring of `keep`). */
  private readonly ring: SequencedChange[] = []
  private ringStart = 0
  private readonly listeners = new Set<ChangeListener>()
  /** Resolvers waiting for everything applied before them to be taken into the text. */
  private waiters: Array<{
    after: PendingChange
    resolve: (id: number) => void
    reject: (err: Error) => void
  }> = []
  private rereading: Promise<void> | null = null
  private rereadAgain = false
  private destroyed = false
  /** Bus mode only (see the head comment). */
  private sequencer: Sequencer | null = null

  constructor(private readonly options: RoomChangesOptions) {
    this.latest = options.latest.id
    this.latestTime = options.latest.at
    this.deltas = new TextDeltas(options.doc, ROOM_TEXT)
  }

  /**
   * Starts following the document from its text as it is now: call once `stored` (what the store
   * held, up to the latest id) is loaded into it. Resolves at once without a bus; with one, once
   * the sequencer's shadow is built from `stored`.
   */
  async begin(stored: StoredRoom): Promise<void> {
    const { doc } = this.options
    this.rope = new Rope(roomText(doc.share.get(ROOM_TEXT)))
    doc.on('afterTransaction', this.onTransaction)
    const { sequence, name, log } = this.options
    if (sequence) {
      this.sequencer = new Sequencer({
        ...sequence,
        name,
        doc,
        log,
        latest: { id: this.latest, exact: sequence.exact },
        sequenced: (change) => this.sequenced(change),
        restarted: (latest, at, text) => this.restarted(latest, at, text),
      })
      await this.sequencer.start(stored)
    }
  }

  /** The id of a change the bus says another instance committed (bus mode), once applied here. */
  remoteChange(change: ChangeEntry): void {
    this.sequencer?.offer({ ...change, own: false })
  }

  /**
   * Bus mode: something committed elsewhere was applied without its id (a peer publishing without
   * ids): the sequence is re-read from the store.
   */
  unsequenced(): void {
    this.sequencer?.restart()
  }

  /** A change of this room's is durable (PendingChange.committed). */
  committed(change: PendingChange): void {
    if (this.sequencer && change.id > 0) {
      this.sequencer.offer({
        id: change.id,
        at: change.at,
        author: change.author,
        update: change.update!,
        own: true,
      })
      return
    }
    change.ready = true
    this.settle()
  }

  get latestId(): number {
    return this.latest
  }

  get latestAt(): number | null {
    return this.latestTime
  }

  text(): string {
    return this.rope.toString()
  }

  get length(): number {
    return this.rope.length
  }

  since(after: number): readonly SequencedChange[] | null {
    if (after >= this.latest) return []
    const oldest = this.ring.length === 0 ? this.latest + 1 : this.ring[this.ringStart].id
    if (after + 1 < oldest) return null
    const out: SequencedChange[] = []
    const size = this.ring.length
    for (let i = after + 1 - oldest; i < size; i++) out.push(this.ring[(this.ringStart + i) % size])
    return out
  }

  pending(): readonly TextDelta[] {
    if (this.sequencer) {
      const delta = this.sequencer.pending()
      return delta.length > 0 ? [delta] : []
    }
    const out: TextDelta[] = []
    for (let i = this.head; i < this.queue.length; i++) {
      const { textDelta } = this.queue[i]
      if (textDelta.length > 0) out.push(textDelta)
    }
    return out
  }

  subscribe(listener: ChangeListener): () => void {
    // A wrapper, so one function subscribed twice is heard twice and unsubscribed once each.
    const entry: ChangeListener = (change) => listener(change)
    this.listeners.add(entry)
    return () => {
      this.listeners.delete(entry)
    }
  }

  /**
   * Applies `update` to the document in one Yjs transaction with `origin`; returns the delta it
   * made to the text. Throws what Yjs threw.
   */
  apply(update: Uint8Array, origin: unknown): TextDelta {
    this.delta = null
    try {
      Y.applyUpdate(this.options.doc, update, origin)
    } catch (err) {
      this.delta = null
      throw err
    }
    return this.take()
  }

  /** The delta of the transactions since the last `apply` or `take` (call right after one). */
  take(): TextDelta {
    const delta = this.delta ?? EMPTY
    this.delta = null
    return delta
  }

  /**
   * Notes a change this room applied and queues it for commit through `commits.append` (the
   * returned QueuedChange), credited to `author`.
   */
  own(delta: TextDelta, author: string | null, update: Uint8Array): OwnChange {
    const change = new PendingChange(this, delta, author, false, this.sequencer ? update : null)
    this.queue.push(change)
    return change
  }

  /**
   * Notes a change another instance committed, just applied here: taken into the text once what
   * the room applied before it is committed; `latestId` is then re-read from the store.
   */
  remote(delta: TextDelta): void {
    // Bus mode: the sequencer hears it by its id; pending() is computed from the document.
    if (this.sequencer) return
    const change = new PendingChange(this, delta, null, true)
    this.queue.push(change)
    this.options.commits.afterCommit(() => {
      change.ready = true
      this.settle()
    })
  }

  /**
   * Resolves with `latestId` once everything applied so far is committed and taken into the text
   * (for a write: its id, the last one if it was sliced). Rejects with RoomUnloadedError if the
   * room unloads first.
   */
  settled(): Promise<number> {
    if (this.destroyed) return Promise.reject(new RoomUnloadedError(this.options.name))
    if (this.head === this.queue.length) return Promise.resolve(this.latest)
    const after = this.queue[this.queue.length - 1]
    return new Promise((resolve, reject) => this.waiters.push({ after, resolve, reject }))
  }

  /** Takes what is ready at the head of the queue into the text, in the order applied. */
  settle(): void {
    if (this.sequencer) {
      while (this.head < this.queue.length && this.queue[this.head].ready)
        this.release(this.queue[this.head++])
      this.compactQueue()
      return
    }
    let remote = false
    while (this.head < this.queue.length && this.queue[this.head].ready) {
      const change = this.queue[this.head++]
      this.applyToText(change.textDelta)
      if (change.remote) {
        remote = true
        this.release(change)
        continue
      }
      const sequenced: SequencedChange = {
        id: change.id,
        at: change.at,
        author: change.author,
        delta: change.textDelta,
      }
      if (change.id <= this.latest) {
        // Only with other instances: the store's latest id was re-read past this one meanwhile.
        this.release(change)
        continue
      }
      // An id skipped: another instance's change (memory keeps only what is contiguous).
      if (change.id !== this.latest + 1) this.forget()
      this.latest = change.id
      this.latestTime = change.at
      this.keepInMemory(sequenced)
      this.tell(sequenced)
      this.release(change)
    }
    this.compactQueue()
    if (remote) this.reread()
  }

  private compactQueue(): void {
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  /** Bus mode: the sequencer's next change, in id order with its exact delta. */
  private sequenced(change: SequencedChange): void {
    this.applyToText(change.delta)
    if (change.id !== this.latest + 1) this.forget()
    this.latest = change.id
    this.latestTime = change.at
    this.keepInMemory(change)
    this.tell(change)
    this.settleSequenced()
  }

  /** Bus mode: the sequence restarted at `latest` (the changes skipped are not heard). */
  private restarted(latest: number, at: number | null, text: string): void {
    this.rope = new Rope(text)
    this.latest = latest
    this.latestTime = at
    this.forget()
    this.settleSequenced()
  }

  /** Bus mode: own changes whose id the sequence has reached are done. */
  private settleSequenced(): void {
    for (let i = this.head; i < this.queue.length; i++) {
      const change = this.queue[i]
      if (change.ready) continue
      if (change.id === 0 || change.id > this.latest) break
      change.ready = true
    }
    this.settle()
  }

  private tell(change: SequencedChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change)
      } catch (err) {
        this.options.log.error({ err, room: this.options.name }, 'a change listener threw')
      }
    }
  }

  /** Stops following the document; writes still waiting are rejected. */
  destroy(): void {
    this.destroyed = true
    this.options.doc.off('afterTransaction', this.onTransaction)
    this.sequencer?.destroy()
    this.listeners.clear()
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter.reject(new RoomUnloadedError(this.options.name))
  }

  /** Resolves the waiters whose last change is `change`. */
  private release(change: PendingChange): void {
    if (this.waiters.length === 0) return
    const keep: typeof this.waiters = []
    for (const waiter of this.waiters) {
      if (waiter.after === change) waiter.resolve(change.id > 0 ? change.id : this.latest)
      else keep.push(waiter)
    }
    this.waiters = keep
  }

  private applyToText(delta: TextDelta): void {
    let at = 0
    for (const run of delta) {
      if ('retain' in run) at += run.retain
      else if ('delete' in run) this.rope.delete(at, run.delete)
      else {
        this.rope.insert(at, run.insert)
        at += run.insert.length
      }
    }
  }

  private keepInMemory(change: SequencedChange): void {
    const { keep } = this.options
    if (keep <= 0) return
    if (this.ring.length < keep) {
      this.ring.push(change)
      return
    }
    this.ring[this.ringStart] = change
    this.ringStart = (this.ringStart + 1) % keep
  }

  private forget(): void {
    this.ring.length = 0
    this.ringStart = 0
  }

  /** Re-reads the latest id from the store (after another instance's change), one read at a time. */
  private reread(): void {
    if (this.rereading) {
      this.rereadAgain = true
      return
    }
    const { store, name, log } = this.options
    this.rereading = store
      .changesSince(name, Number.MAX_SAFE_INTEGER, 0)
      .then(
        (read) => {
          if (this.destroyed || read.latest <= this.latest) return
          this.latest = read.latest
          this.latestTime = read.latestAt
          this.forget()
        },
        (err) => log.warn({ err, room: name }, 'could not re-read the latest change id'),
      )
      .finally(() => {
        this.rereading = null
        if (this.rereadAgain && !this.destroyed) {
          this.rereadAgain = false
          this.reread()
        }
      })
  }

  unitsAt(indexes: readonly number[]): number[] {
    return this.deltas.unitsAt(indexes)
  }

  private readonly onTransaction = (transaction: Y.Transaction): void => {
    const delta = this.deltas.of(transaction)
    if (delta === null) return
    // Two transactions before one take (not seen in practice): their deltas compose in order.
    this.delta = this.delta === null ? delta : composeDeltas(this.delta, delta)
  }
}

/** `a` then `b`, as one delta (through the OT module's compose). */
function composeDeltas(a: TextDelta, b: TextDelta): TextDelta {
  return compose(deltaToOp(a), deltaToOp(b)).map((component) =>
    typeof component === 'number'
      ? { retain: component }
      : typeof component === 'string'
        ? { insert: component }
        : { delete: deleteLength(component.d) },
  )
}
