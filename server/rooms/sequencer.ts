/**
 * A room's change sequencer with other instances (bus mode; see room-changes.ts for why): a shadow
 * copy of the room's document that takes committed changes strictly in change-id order, so the
 * delta of each (computed on the shadow, text-deltas.ts) applies exactly to the text after the
 * change numbered before it, whichever instance committed it and in whatever order the updates
 * reached this instance's document.
 *
 * Changes are offered with their ids: this instance's own as the store numbers them, other
 * instances' as the bus carries them (`change` entries). One out of order is buffered until the ids
 * before it arrive. When one does not arrive (Redis dropped a frame, an update too big for a frame
 * went by reference, the bus was away, a peer published without ids) the sequence restarts from the
 * store: after `gapMs` with the next id still missing, or at once when the buffer holds
 * `maxBuffered` changes or `maxBufferedBytes` of updates. A restart reads the room's state and
 * latest id consistently (`readConsistent`) and merges that state into the room's document (so the
 * document always holds all the shadow holds: pending deltas stay computable). Then it replays the
 * changes it skipped: the store keeps each change's update beside its delta, so the skipped ids are
 * read with their updates and applied to the shadow in id order, exactly as offered ones are, each
 * handed on with its exact delta, and the sequence goes on from the read id. That needs them all
 * kept, each with its update, and at most REPLAY_MAX of them. Otherwise (rows from a database
 * before updates were kept, pruned ones, more than the bound, an update that fails) the shadow is
 * rebuilt from the state read; the skipped changes are handed on with their stored deltas when the
 * store has all of those, else they are not heard here (`restarted`: memory forgets, readers take
 * them from the store or reset).
 *
 * Own changes are stored without a delta in bus mode; once sequenced here, their delta is written
 * with `setChangeDelta` (fire and forget: a failure, or a crash before it, leaves null). A replay
 * writes the delta of every change it applied that the store holds without one (setChangeDelta
 * writes only over null, and every instance's sequencer computes the same delta for an id), so a
 * change whose committer skipped it or died first gets its delta from whichever instance replays it.
 */
import type { Logger } from 'pino'
import * as Y from 'yjs'
import type { ChangeStore, DocStore, StoredChange, StoredRoom } from '../store/index.ts'
import type { SequencedChange, TextDelta, TextRun } from './change-log.ts'
import { ROOM_TEXT } from './change-log.ts'
import { restoreDoc } from './room-restore.ts'
import { OBJECT_UNIT, roomText, TextDeltas } from './text-deltas.ts'

/** A committed update offered to the sequencer. */
export interface OfferedChange {
  readonly id: number
  readonly at: number
  readonly author: string | null
  readonly update: Uint8Array
  /** Committed by this instance (its delta is written to the store once sequenced). */
  readonly own: boolean
}

/** What the sequencer reads and writes (a DocStore's members). */
export type SequencerStore = Pick<DocStore, 'load'> & Pick<ChangeStore, 'changesSince' | 'setChangeDelta'>

/** A room's state and its latest change, read consistently (the state holds exactly changes 1..latest). */
export interface ConsistentRead {
  stored: StoredRoom
  latest: number
  latestAt: number | null
  /** False when no consistent read succeeded within the attempts (the state may hold more or less). */
  exact: boolean
}

const LATEST = Number.MAX_SAFE_INTEGER
const READ_ATTEMPTS = 8
/** Changes a restart hands on from the store at most (more: the listeners hear the jump). */
const REPLAY_MAX = 1_000

/**
 * Reads `room`'s state between two reads of its latest id, until both reads agree: a store numbers
 * each change in the transaction that stores its update and reads the state in one statement, so
 * with no id committed between the two reads the state holds exactly the changes up to it. After
 * READ_ATTEMPTS disagreeing reads (a room written to faster than it loads) it returns the last
 * with `exact` false.
 */
export async function readConsistent(store: SequencerStore, room: string): Promise<ConsistentRead> {
  let before = await store.changesSince(room, LATEST, 0)
  for (let attempt = 1; ; attempt++) {
    const stored = await store.load(room)
    const after = await store.changesSince(room, LATEST, 0)
    const exact = after.latest === before.latest
    if (exact || attempt >= READ_ATTEMPTS) {
      return { stored, latest: before.latest, latestAt: before.latestAt, exact }
    }
    before = after
  }
}

export interface SequencerOptions {
  name: string
  /** The room's document (`pending` compares the shadow with it). */
  doc: Y.Doc
  store: SequencerStore
  log: Logger
  /** The latest change id the room's document holds exactly, as loaded; `exact` false: restart at once. */
  latest: { id: number; exact: boolean }
  /** Bounds for rebuilding the shadow from the store (the room's, see room-restore.ts). */
  restore: { maxJsonDepth: number; budget: number }
  /** Merges state read from the store into the room's document (Room.mergeStored). */
  merge(stored: StoredRoom): Promise<void>
  /** Hears each change in id order with its exact delta. */
  sequenced(change: SequencedChange): void
  /** A restart moved the sequence to `latest` without hearing the changes in between; `text` is the text there. */
  restarted(latest: number, at: number | null, text: string): void
  /** How long the next id may be missing while later ones wait (ms). */
  gapMs: number
  /** Changes buffered out of order at most; past it the sequence restarts. */
  maxBuffered: number
  /** Bytes of updates buffered out of order at most; past it the sequence restarts. */
  maxBufferedBytes: number
}

export class Sequencer {
  private shadow = new Y.Doc({ gc: true })
  private latest: number
  private delta: TextDelta | null = null
  private readonly buffer = new Map<number, OfferedChange>()
  private bufferedBytes = 0
  private gapTimer: NodeJS.Timeout | null = null
  private restarting: Promise<void> | null = null
  private restartAgain = false
  private destroyed = false

  constructor(private readonly options: SequencerOptions) {
    this.latest = options.latest.id
  }

  /**
   * Builds the shadow from `stored` (what the room's document was loaded from, up to the latest
   * id), in slices as the room's own load (room-restore.ts). Offer nothing before it resolves.
   */
  async start(stored: StoredRoom): Promise<void> {
    await restoreDoc(this.shadow, stored, this.options.restore)
    this.follow(this.shadow)
    if (!this.options.latest.exact) this.restart()
  }

  /** The id of the latest change sequenced. */
  get latestId(): number {
    return this.latest
  }

  /** Takes a committed change (in any order; ids at or below the latest are dropped). */
  offer(change: OfferedChange): void {
    if (this.destroyed || change.id <= this.latest) return
    if (this.buffer.has(change.id)) return
    this.buffer.set(change.id, change)
    this.bufferedBytes += change.update.byteLength
    const { maxBuffered, maxBufferedBytes } = this.options
    if (this.buffer.size > maxBuffered || this.bufferedBytes > maxBufferedBytes) {
      if (this.restarting) {
        // Dropped while a restart reads the store: another restart after it takes it from there.
        this.unbuffer(change)
        this.restartAgain = true
        return
      }
      this.options.log.warn(
        {
          room: this.options.name,
          buffered: this.buffer.size,
          bytes: this.bufferedBytes,
          next: this.latest + 1,
        },
        'change sequence: too many changes wait for a missing one; re-reading the room',
      )
      this.restart()
      return
    }
    this.drain()
  }

  /** Restarts the sequence from the store (a gap, or a change that could not be sequenced). */
  restart(): void {
    if (this.destroyed) return
    if (this.restarting) {
      this.restartAgain = true
      return
    }
    this.clearGapTimer()
    this.restarting = this.reread()
      .catch((err) => {
        this.options.log.warn(
          { err, room: this.options.name },
          'change sequence: re-reading failed; retrying',
        )
        this.restartAgain = true
      })
      .finally(() => {
        this.restarting = null
        if (this.destroyed) return
        if (this.restartAgain) {
          this.restartAgain = false
          // A failed read is retried after the gap delay, not in a tight loop.
          this.gapTimer = setTimeout(() => {
            this.gapTimer = null
            this.restart()
          }, this.options.gapMs)
          this.gapTimer.unref()
          return
        }
        this.drain()
      })
  }

  /**
   * The delta from the shadow's text (the text at the latest id) to the room document's text, by
   * the identity of their items: exact while the document holds everything the shadow holds (see
   * the head comment). Cost: the document's text items.
   */
  pending(): TextDelta {
    return textBetween(this.shadow, this.options.doc)
  }

  destroy(): void {
    this.destroyed = true
    this.clearGapTimer()
    this.buffer.clear()
    this.bufferedBytes = 0
    this.shadow.destroy()
  }

  /** Keeps the delta of `shadow`'s transactions for `drain`. */
  private follow(shadow: Y.Doc): void {
    const deltas = new TextDeltas(shadow, ROOM_TEXT)
    shadow.on('afterTransaction', (transaction: Y.Transaction) => {
      const delta = deltas.of(transaction)
      if (delta !== null) this.delta = delta
    })
  }

  /** Sequences what is buffered from the next id on. */
  private drain(): void {
    if (this.restarting || this.destroyed) return
    for (let next = this.buffer.get(this.latest + 1); next; next = this.buffer.get(this.latest + 1)) {
      this.unbuffer(next)
      this.delta = null
      try {
        Y.applyUpdate(this.shadow, next.update)
      } catch (err) {
        this.options.log.warn(
          { err, room: this.options.name, id: next.id },
          'change sequence: an update failed',
        )
        this.restart()
        return
      }
      const delta = this.delta ?? []
      this.delta = null
      this.latest = next.id
      if (next.own) {
        const { store, name, log } = this.options
        store
          .setChangeDelta(name, next.id, JSON.stringify(delta))
          .catch((err) => log.warn({ err, room: name, id: next.id }, 'could not store a change delta'))
      }
      this.options.sequenced({ id: next.id, at: next.at, author: next.author, delta })
    }
    this.clearGapTimer()
    if (this.buffer.size > 0) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null
        if (!this.buffer.has(this.latest + 1)) this.restart()
      }, this.options.gapMs)
      this.gapTimer.unref()
    }
  }

  private async reread(): Promise<void> {
    const { store, name, merge } = this.options
    const read = await readConsistent(store, name)
    if (this.destroyed) return
    if (!read.exact) throw new Error('no consistent read of the room')
    if (read.latest <= this.latest) return
    const from = this.latest
    // The document first: it must hold all the shadow will hold before the shadow moves.
    await merge(read.stored)
    const skipped = await this.storedChanges(from, read.latest)
    if (this.destroyed) return
    if (skipped?.every((change) => change.update) && this.replay(skipped)) {
      for (const change of this.buffer.values()) if (change.id <= read.latest) this.unbuffer(change)
      return
    }
    // Today's way, for changes stored without their updates (older rows): their committers' deltas.
    const withDeltas = this.latest === from && skipped?.every((change) => change.delta !== null)
    await this.rebuild(read)
    if (this.destroyed) return
    if (skipped && withDeltas) {
      for (const change of skipped) {
        const delta = JSON.parse(change.delta!) as TextDelta
        this.options.sequenced({ id: change.id, at: change.at, author: change.author, delta })
      }
      return
    }
    this.options.restarted(read.latest, read.latestAt, roomText(this.shadow.share.get(ROOM_TEXT)))
  }

  /**
   * Applies the skipped changes' updates to the shadow in id order, as `drain` applies offered ones:
   * each is handed on with its exact delta, which is written to the store where it has none (a
   * change whose committer's sequencer skipped it too, or died first). Not merged afterwards: the
   * read state holds exactly these changes' updates over the shadow's (a consistent read; every
   * change's row holds its entry's update), and merging the state would only add what is not in a
   * change up to the read id: what a compaction's snapshot took from the compacting instance's
   * document before committing it. That belongs to a later change, whose delta would then come out
   * empty, and the document (already merged) holding more than the shadow is what `pending` is
   * for. False, after handing on those before it, when an update fails to apply.
   */
  private replay(skipped: readonly StoredChange[]): boolean {
    const { name, log } = this.options
    const filled: Array<{ id: number; delta: string }> = []
    let replayed = true
    for (const change of skipped) {
      this.delta = null
      try {
        Y.applyUpdate(this.shadow, change.update!)
      } catch (err) {
        log.warn({ err, room: name, id: change.id }, 'change sequence: a stored update failed')
        replayed = false
        break
      }
      const delta = this.delta ?? []
      this.delta = null
      this.latest = change.id
      if (change.delta === null) filled.push({ id: change.id, delta: JSON.stringify(delta) })
      this.options.sequenced({ id: change.id, at: change.at, author: change.author, delta })
    }
    if (filled.length > 0) this.fillDeltas(filled)
    return replayed
  }

  /** Writes deltas the store lacks, one at a time in the background (fire and forget, as `drain`). */
  private fillDeltas(deltas: ReadonlyArray<{ id: number; delta: string }>): void {
    const { store, name, log } = this.options
    const write = async () => {
      for (const { id, delta } of deltas) {
        if (this.destroyed) return
        await store.setChangeDelta(name, id, delta)
      }
    }
    write().catch((err) => log.warn({ err, room: name }, 'could not store the deltas of replayed changes'))
  }

  /** Rebuilds the shadow from `read` (merged into the document first) and stands at its id. */
  private async rebuild(read: ConsistentRead): Promise<void> {
    const shadow = new Y.Doc({ gc: true })
    await restoreDoc(shadow, read.stored, this.options.restore)
    if (this.destroyed) {
      shadow.destroy()
      return
    }
    this.shadow.destroy()
    this.shadow = shadow
    this.follow(shadow)
    this.latest = read.latest
    for (const change of this.buffer.values()) if (change.id <= read.latest) this.unbuffer(change)
  }

  /**
   * The changes after `from` up to `to` as the store keeps them, each with its update, when the
   * store keeps them all and there are at most REPLAY_MAX; else null.
   */
  private async storedChanges(from: number, to: number): Promise<StoredChange[] | null> {
    if (to - from > REPLAY_MAX) return null
    const read = await this.options.store.changesSince(this.options.name, from, to - from, { updates: true })
    const { changes } = read
    if (changes.length !== to - from) return null
    return changes.every((change, i) => change.id === from + 1 + i) ? changes : null
  }

  private unbuffer(change: OfferedChange): void {
    this.buffer.delete(change.id)
    this.bufferedBytes -= change.update.byteLength
  }

  private clearGapTimer(): void {
    if (this.gapTimer) {
      clearTimeout(this.gapTimer)
      this.gapTimer = null
    }
  }
}

/** The delta from `from`'s text to `to`'s (`to` holding every item of `from`), by item identity. */
export function textBetween(from: Y.Doc, to: Y.Doc): TextDelta {
  const runs: TextRun[] = []
  const push = (run: TextRun) => {
    const last = runs[runs.length - 1]
    if (last && 'retain' in last && 'retain' in run)
      runs[runs.length - 1] = { retain: last.retain + run.retain }
    else if (last && 'delete' in last && 'delete' in run)
      runs[runs.length - 1] = { delete: last.delete + run.delete }
    else if (last && 'insert' in last && 'insert' in run)
      runs[runs.length - 1] = { insert: last.insert + run.insert }
    else runs.push(run)
  }
  const clients = from.store.clients
  const type = to.share.get(ROOM_TEXT)
  for (let item = type?._start ?? null; item !== null; item = item.right) {
    // A deleted item's content may have been replaced (not countable any more): count it by length.
    if (!item.deleted && !item.countable) continue
    if (item.deleted && !(item.content instanceof Y.ContentDeleted) && !item.countable) continue
    const { client, clock } = item.id
    const structs = clients.get(client)
    const end =
      structs && structs.length > 0
        ? structs[structs.length - 1].id.clock + structs[structs.length - 1].length
        : 0
    for (let offset = 0; offset < item.length; ) {
      let span = item.length - offset
      let visible: Y.Item | null = null
      if (structs && clock + offset < end) {
        const struct = structs[Y.findIndexSS(structs, clock + offset)]
        span = Math.min(span, struct.id.clock + struct.length - (clock + offset))
        if (struct instanceof Y.Item && !struct.deleted && struct.countable) visible = struct
      }
      if (!item.deleted && visible) {
        const units = unitsOf(item, offset, span)
        // Yjs writes U+FFFD over a surrogate pair it splits, in each copy where it splits it.
        if (unitsOf(visible, clock + offset - visible.id.clock, span) === units) push({ retain: span })
        else {
          push({ delete: span })
          push({ insert: units })
        }
      } else if (!item.deleted) push({ insert: unitsOf(item, offset, span) })
      else if (visible) push({ delete: span })
      offset += span
    }
  }
  while (runs.length > 0 && 'retain' in runs[runs.length - 1]) runs.pop()
  return runs
}

function unitsOf(item: Y.Item, offset: number, span: number): string {
  return item.content instanceof Y.ContentString
    ? item.content.str.slice(offset, offset + span)
    : OBJECT_UNIT.repeat(span)
}
