/**
 * One room's change feed: its subscribers, each at a change id, and the room's committed changes
 * and presence written to them. A live change is encoded once and the same string written to every
 * subscriber it is next for.
 *
 * A subscriber starts from a `reset` (no last id, or one the room never reached) or from its last
 * id. Resuming is exact: the subscriber listens before anything is read, so what is committed
 * meanwhile is held (in id order) rather than missed, then the missed changes are written from the
 * room's memory (`changes.since`) or, when memory does not reach back, from the store page by page
 * (waiting for the client to take each page), then the held ones, skipping ids already written.
 * Each id is written at most once and in order; a gap (an id not next) sends the subscriber back to
 * catching up, so no path skips an id. Only when the store no longer keeps the missed changes does
 * the subscriber get a `reset` (reason `expired`) instead, and continue from there. Once caught up
 * it gets the presence snapshot, then live changes, presence events and the versions the room's
 * history makes on any instance (`version` events, no id). A resumed stream also gets, once caught
 * up, the versions standing at its last id or later (at most MAX_MISSED_VERSIONS, oldest first):
 * one made at that id before the drop may come again; a version's id tells them apart. Versions made
 * while a stream catches up are held and written then too.
 */
import type { Logger } from 'pino'
import type { Awareness } from 'y-protocols/awareness'
import type { RoomChangeLog, SequencedChange } from '../rooms/change-log.ts'
import type { VersionInfo } from '../store/history-store.ts'
import type { ChangesRead } from '../store/index.ts'
import { changeEvent, type ResetReason, resetEvent, storedChangeEvent, versionEvent } from './feed-events.ts'
import { RoomPresence } from './room-presence.ts'
import type { SseStream } from './sse-stream.ts'

/** What a feed needs of a room (rooms/room.ts `Room`). */
export interface FeedRoom {
  readonly name: string
  readonly changes: RoomChangeLog
  readonly awareness: { readonly states: Awareness }
}

/** Where changes older than the room's memory are read (the store's `changesSince`). */
export interface ChangeSource {
  changesSince(room: string, after: number, limit: number): Promise<ChangesRead>
}

/** Where a room's versions are heard (history/versioner.ts `Versioner`). */
export interface VersionEvents {
  onVersion(listener: (version: VersionInfo) => void): () => void
  /** The room's versions standing at change `changeId` or later, oldest first, at most `limit` (the latest). */
  versionsSince(changeId: number, limit: number): Promise<readonly VersionInfo[]>
}

/** What a feed reports: events written (kind, to how many streams, bytes in all). */
export interface FeedEventMetrics {
  feedEvents(kind: 'change' | 'reset' | 'presence' | 'version', streams: number, bytes: number): void
}

/** Changes read from the store at a time while catching up. */
export const STORE_PAGE = 500
/** Live changes one subscriber may hold while it catches up; past this it is closed as slow. */
export const MAX_HELD = 10_000
/** Versions a resumed stream is sent from before its drop, at most (the latest ones). */
export const MAX_MISSED_VERSIONS = 100

/** One stream of this feed. */
class Subscriber {
  /** The id of the last change the stream stands at (written, or skipped as not touching the text). */
  at = 0
  /** Live changes heard while catching up, in id order; null once live. */
  held: SequencedChange[] | null = []
  /** Versions to write once caught up (missed before a resume, or made meanwhile); null when none. */
  versions: VersionInfo[] | null = null
  /** The versions a resume missed, being read (awaited before going live). */
  missed: Promise<readonly VersionInfo[]> | null = null

  constructor(readonly stream: SseStream) {}
}

export class RoomFeed {
  private readonly subscribers = new Set<Subscriber>()
  private readonly unsubscribe: () => void
  private readonly unsubscribeVersions: (() => void) | null
  private readonly versions: VersionEvents | null
  private readonly presence: RoomPresence
  /** The `start` reset at one id, shared by the subscribers that start there. */
  private startReset: { id: number; event: string } | null = null

  constructor(
    private readonly room: FeedRoom,
    private readonly store: ChangeSource,
    private readonly log: Logger,
    private readonly metrics?: FeedEventMetrics,
    versions?: VersionEvents | null,
  ) {
    this.unsubscribe = room.changes.subscribe(this.onChange)
    this.versions = versions ?? null
    this.unsubscribeVersions = versions?.onVersion(this.onVersion) ?? null
    this.presence = new RoomPresence(room.awareness.states, this.onPresence)
  }

  /** Subscribers. */
  get size(): number {
    return this.subscribers.size
  }

  /**
   * Starts `stream` (already open) after change `after`, or with a `reset` when null; it is
   * followed until it closes.
   */
  add(stream: SseStream, after: number | null): void {
    const subscriber = new Subscriber(stream)
    this.subscribers.add(subscriber)
    stream.onClose(() => this.subscribers.delete(subscriber))
    const { latestId } = this.room.changes
    if (after !== null) this.readMissedVersions(subscriber, after)
    if (after === null) {
      this.reset(subscriber, 'start')
      this.catchUp(subscriber)
    } else if (after > latestId) {
      this.resumeAhead(subscriber, after)
    } else {
      subscriber.at = after
      this.catchUp(subscriber)
    }
  }

  /** Starts reading the versions a resumed subscriber may have missed (a failure is logged: none). */
  private readMissedVersions(subscriber: Subscriber, after: number): void {
    if (!this.versions) return
    subscriber.missed = this.versions.versionsSince(after, MAX_MISSED_VERSIONS).catch((err) => {
      this.log.warn(
        { err, room: this.room.name },
        'change feed: the versions a resume missed could not be read',
      )
      return []
    })
  }

  /** Stops listening to the room (every subscriber has gone). */
  destroy(): void {
    this.unsubscribe()
    this.unsubscribeVersions?.()
    this.presence.stop()
  }

  private readonly onChange = (change: SequencedChange): void => {
    let event: string | null | undefined
    let streams = 0
    for (const subscriber of this.subscribers) {
      const { held } = subscriber
      if (held) {
        held.push(change)
        if (held.length > MAX_HELD) subscriber.stream.close('slow')
        continue
      }
      if (change.id <= subscriber.at) continue
      if (change.id !== subscriber.at + 1) {
        subscriber.held = [change]
        this.catchUp(subscriber)
        continue
      }
      subscriber.at = change.id
      if (event === undefined) event = changeEvent(change)
      if (event !== null && subscriber.stream.write(event)) streams++
    }
    if (streams > 0 && event) this.metrics?.feedEvents('change', streams, streams * Buffer.byteLength(event))
  }

  private readonly onPresence = (event: string): void => this.toLive('presence', event)

  private readonly onVersion = (version: VersionInfo): void => {
    let event: string | undefined
    let streams = 0
    for (const subscriber of this.subscribers) {
      if (subscriber.held) {
        subscriber.versions ??= []
        subscriber.versions.push(version)
        continue
      }
      event ??= versionEvent(version)
      if (subscriber.stream.write(event)) streams++
    }
    if (streams > 0 && event) this.metrics?.feedEvents('version', streams, streams * Buffer.byteLength(event))
  }

  /** Writes `event` to every subscriber that is live (caught up). */
  private toLive(kind: 'presence', event: string): void {
    let streams = 0
    for (const subscriber of this.subscribers) {
      if (!subscriber.held && subscriber.stream.write(event)) streams++
    }
    if (streams > 0) this.metrics?.feedEvents(kind, streams, streams * Buffer.byteLength(event))
  }

  /** Writes the versions held for a subscriber going live, oldest first, each once. */
  private writeHeldVersions(subscriber: Subscriber): void {
    const versions = subscriber.versions
    subscriber.versions = null
    if (!versions) return
    versions.sort((a, b) => a.id - b.id)
    let last = 0
    for (const version of versions) {
      if (version.id === last) continue
      last = version.id
      const event = versionEvent(version)
      if (subscriber.stream.write(event)) this.metrics?.feedEvents('version', 1, Buffer.byteLength(event))
    }
  }

  /** Writes a `reset` with the room's text as of its latest change; the subscriber stands there. */
  private reset(subscriber: Subscriber, reason: ResetReason): void {
    const { changes } = this.room
    const id = changes.latestId
    let event: string
    if (reason === 'start' && this.startReset?.id === id) event = this.startReset.event
    else {
      event = resetEvent(id, changes.text(), changes.latestAt, reason)
      if (reason === 'start') this.startReset = { id, event }
    }
    subscriber.at = id
    if (subscriber.stream.write(event)) this.metrics?.feedEvents('reset', 1, Buffer.byteLength(event))
  }

  /**
   * A last id above the room's latest: the store may already hold it (another instance committed
   * it and this room has not heard yet), then the subscriber waits there; otherwise it is an id
   * this room never reached (a store restored from a backup), and the subscriber starts over.
   */
  private resumeAhead(subscriber: Subscriber, after: number): void {
    this.store.changesSince(this.room.name, after, 0).then(
      (read) => {
        if (subscriber.stream.closed) return
        if (read.latest >= after) subscriber.at = after
        else this.reset(subscriber, 'unknown')
        this.catchUp(subscriber)
      },
      (err) => this.failed(subscriber, err),
    )
  }

  /** Runs `catchUpNow`, closing the stream if it fails (the client reconnects and tries again). */
  private catchUp(subscriber: Subscriber): void {
    this.catchUpNow(subscriber).catch((err) => this.failed(subscriber, err))
  }

  private failed(subscriber: Subscriber, err: unknown): void {
    this.log.error(
      { err, room: this.room.name, feed: subscriber.stream.id },
      'change feed: catching up failed',
    )
    subscriber.stream.close('error')
  }

  /**
   * Writes what the subscriber missed, then what was held meanwhile, then makes it live (see the
   * module comment). Waits whenever half the stream's bound is not yet taken by the client, so a
   * long backlog is paced by the client instead of closing it as slow.
   */
  private async catchUpNow(subscriber: Subscriber): Promise<void> {
    const { changes } = this.room
    const { stream } = subscriber
    subscriber.held ??= []
    while (!stream.closed) {
      if (stream.full) await stream.drained()
      const held = subscriber.held!
      let next = 0
      while (next < held.length && held[next].id <= subscriber.at) next++
      if (next < held.length && held[next].id === subscriber.at + 1) {
        this.write(subscriber, held[next], changeEvent(held[next]))
        held.splice(0, next + 1)
        continue
      }
      held.splice(0, next)
      if (held.length === 0 && subscriber.at >= changes.latestId) {
        if (!subscriber.missed) break
        // The versions a resume missed: read while catching up; changes heard meanwhile are held.
        const missed = await subscriber.missed
        subscriber.missed = null
        if (missed.length > 0) subscriber.versions = [...(subscriber.versions ?? []), ...missed]
        continue
      }
      const before = subscriber.at
      for (const change of changes.since(before) ?? []) {
        if (change.id !== subscriber.at + 1) break
        this.write(subscriber, change, changeEvent(change))
        if (stream.full) break
      }
      // Memory does not reach back (or had nothing next): the store.
      if (subscriber.at === before) await this.readStored(subscriber)
    }
    if (stream.closed) return
    subscriber.held = null
    this.writeHeldVersions(subscriber)
    const snapshot = this.presence.snapshot()
    if (stream.write(snapshot)) this.metrics?.feedEvents('presence', 1, Buffer.byteLength(snapshot))
  }

  /**
   * Writes changes after the subscriber's id from the store, a page at a time, up to the room's
   * latest id (later ones come live), or a `reset` when neither memory nor the store has the next
   * one. A change the store holds without a delta (another instance's, its delta not yet written)
   * ends the page: memory, which the caller tries first, may have it from there.
   */
  private async readStored(subscriber: Subscriber): Promise<void> {
    const after = subscriber.at
    const upTo = this.room.changes.latestId
    if (upTo <= after) return
    const read = await this.store.changesSince(this.room.name, after, Math.min(STORE_PAGE, upTo - after))
    const { stream } = subscriber
    if (stream.closed || subscriber.at !== after) return
    const first = read.changes[0]
    if (first?.id !== after + 1 || first.delta === null) {
      this.reset(subscriber, 'expired')
      return
    }
    for (const change of read.changes) {
      if (change.id !== subscriber.at + 1 || change.delta === null) break
      if (stream.full) await stream.drained()
      if (stream.closed) return
      let event: string | null
      try {
        event = storedChangeEvent(change)
      } catch (err) {
        this.log.warn(
          { err, room: this.room.name, id: change.id },
          'change feed: a stored delta is unreadable',
        )
        this.reset(subscriber, 'expired')
        return
      }
      this.write(subscriber, change, event)
    }
  }

  /** Writes `change`'s event (null: it did not touch the text) and moves the subscriber past it. */
  private write(subscriber: Subscriber, change: { id: number }, event: string | null): void {
    subscriber.at = change.id
    if (event !== null && subscriber.stream.write(event)) {
      this.metrics?.feedEvents('change', 1, Buffer.byteLength(event))
    }
  }
}
