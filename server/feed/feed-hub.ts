/**
 * The server's change feeds (`GET /api/rooms/<room>/events`): one RoomFeed per room with
 * subscribers, each stream holding its room loaded (a registry hold) for as long as it is open;
 * streams counted per room (`maxFeedsPerRoom`) from the moment one is admitted; one keep-alive
 * timer for every stream (a comment each `feedKeepAliveMs`, which also closes a stream whose client
 * stopped reading); and shutdown, which ends every stream so clients reconnect elsewhere.
 *
 * Admission by address and in total is the caller's (http/document-api.ts, with the WebSocket
 * limits); this module only bounds streams per room.
 */
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { ServerConfig } from '../config/config.ts'
import { decrement, increment } from '../limits/counts.ts'
import { KEEP_ALIVE } from './feed-events.ts'
import {
  type ChangeSource,
  type FeedEventMetrics,
  type FeedRoom,
  RoomFeed,
  type VersionEvents,
} from './room-feed.ts'
import { SseStream, type StreamEnd } from './sse-stream.ts'

/** The options feeds read (each documented in options.ts). */
export type FeedConfig = Pick<ServerConfig, 'maxFeedsPerRoom' | 'maxFeedBufferBytes' | 'feedKeepAliveMs'>

/** What feeds report (see ops/metrics.ts). */
export interface FeedMetrics extends FeedEventMetrics {
  /** A stream started. */
  feedOpened(): void
  /** A started stream ended, and why (`slow`: its client stopped reading). */
  feedClosed(reason: StreamEnd): void
}

/** Where feeds get their rooms: the room registry (a hold per stream). */
export interface FeedRooms<R extends FeedRoom> {
  open(name: string): Promise<R>
  release(room: R): void
}

export interface FeedHubOptions<R extends FeedRoom> {
  rooms: FeedRooms<R>
  store: ChangeSource
  config: FeedConfig
  log: Logger
  metrics?: FeedMetrics
  /** A loaded room's versions (history/history-hub.ts), for `version` events; none without. */
  history?: { of(room: R): VersionEvents }
}

export class FeedHub<R extends FeedRoom = FeedRoom> {
  /** Streams per room name, counted from admission (before the room loads) until they end. */
  private readonly perRoom = new Map<string, number>()
  private readonly feeds = new Map<R, RoomFeed>()
  private readonly streams = new Set<SseStream>()
  private keepAlive: NodeJS.Timeout | null = null
  private closing = false

  constructor(private readonly options: FeedHubOptions<R>) {}

  /** Open streams. */
  get size(): number {
    return this.streams.size
  }

  /** Null when `room` may take another stream; else why not (shutting down, or its most streams). */
  refusal(room: string): string | null {
    if (this.closing) return 'server is shutting down'
    const max = this.options.config.maxFeedsPerRoom
    if ((this.perRoom.get(room) ?? 0) >= max) return `too many change feeds on this room (limit ${max})`
    return null
  }

  /**
   * Opens the change feed of room `name` on `res` after change `after` (null: from a reset). The
   * stream counts against the room at once; the room is opened (from this call, synchronously) and
   * held until the stream ends. Resolves with the started stream, or null when it did not start
   * because the client left or the server is shutting down meanwhile (nothing was written).
   * Rejects when the room fails to load (nothing was written).
   */
  async open(name: string, res: ServerResponse, after: number | null): Promise<SseStream | null> {
    const { rooms, config } = this.options
    increment(this.perRoom, name)
    const stream = new SseStream(res, config.maxFeedBufferBytes)
    let room: R
    try {
      room = await rooms.open(name)
    } catch (err) {
      decrement(this.perRoom, name)
      throw err
    }
    if (stream.closed || this.closing) {
      decrement(this.perRoom, name)
      rooms.release(room)
      return null
    }
    stream.start()
    this.streams.add(stream)
    this.options.metrics?.feedOpened()
    let feed = this.feeds.get(room)
    if (!feed) {
      feed = new RoomFeed(
        room,
        this.options.store,
        this.options.log,
        this.options.metrics,
        this.versionsOf(room),
      )
      this.feeds.set(room, feed)
    }
    feed.add(stream, after)
    stream.onClose((reason) => this.ended(stream, room, reason))
    this.keepAlive ??= setInterval(this.tick, config.feedKeepAliveMs).unref()
    return stream
  }

  /** `room`'s version events; null without history, or when it has none attached (logged). */
  private versionsOf(room: R): VersionEvents | null {
    const { history, log } = this.options
    if (!history) return null
    try {
      return history.of(room)
    } catch (err) {
      log.warn({ err, room: room.name }, 'change feed: no history attached to the room; no version events')
      return null
    }
  }

  /** Ends every stream (shutdown: their clients reconnect, to another instance or once restarted). */
  close(): void {
    this.closing = true
    if (this.keepAlive) clearInterval(this.keepAlive)
    this.keepAlive = null
    for (const stream of this.streams) stream.close('shutdown')
  }

  private ended(stream: SseStream, room: R, reason: StreamEnd): void {
    try {
      this.streams.delete(stream)
      this.options.metrics?.feedClosed(reason)
      decrement(this.perRoom, room.name)
      const feed = this.feeds.get(room)
      if (feed && feed.size === 0) {
        feed.destroy()
        this.feeds.delete(room)
      }
      if (this.streams.size === 0 && this.keepAlive) {
        clearInterval(this.keepAlive)
        this.keepAlive = null
      }
    } catch (err) {
      this.options.log.error({ err, room: room.name, feed: stream.id }, 'change feed: ending a stream failed')
    }
    this.options.rooms.release(room)
  }

  private readonly tick = (): void => {
    for (const stream of this.streams) stream.write(KEEP_ALIVE)
  }
}
