/**
 * The server's Prometheus metrics (prom-client), served by `GET /metrics`. Each server has its own
 * `Registry` (several servers in one process do not collide), with Node's default process metrics
 * and Tandem's own, all named `tandem_*`.
 *
 * The relay's hot path (every message in and out) only bumps a slot of a Float64Array indexed by
 * direction and message type: no label lookup, no allocation. The counters read those slots when
 * scraped (prom-client's `collect`). Gauges (connections, rooms) are read at scrape time too.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { closeCodeName, MessageType, SyncType } from '../../shared/protocol/index.ts'
import { BusKind } from '../fanout/bus-message.ts'
import type { FanoutMetrics } from '../fanout/room-bus.ts'
import type { FeedMetrics } from '../feed/feed-hub.ts'
import type { StreamEnd } from '../feed/sse-stream.ts'
import type { DelayStats } from './event-loop-delay.ts'

/** The `type` label of the message counters, in slot order. */
const MESSAGE_TYPES = [
  'sync_step1',
  'sync_step2',
  'sync_update',
  'awareness',
  'query_awareness',
  'saved',
  'storage',
  'access',
  'other',
] as const
const OTHER = MESSAGE_TYPES.length - 1
const DIRECTIONS = ['in', 'out'] as const
const IN = 0
const OUT = 1

/** The `kind` label of the fan-out counters, by slot (busKindSlot). */
const BUS_KINDS = ['update', 'awareness', 'resync', 'version'] as const
const VERSION_SLOT = BUS_KINDS.indexOf('version')

/**
 * The slot of a bus entry kind in the fan-out counters: a committed update, with or without its id,
 * is an update; a version has the slot after resync (policy entries are not counted).
 */
function busKindSlot(kind: BusKind): number {
  if (kind === BusKind.change) return BusKind.update
  if (kind === BusKind.version) return VERSION_SLOT
  return kind
}

/** Close codes counted under their own label value; any other code a peer sends counts as `other`. */
const RFC_CLOSE_CODES = new Set([1000, 1001, 1005, 1006])

/** The slot of a frame's message type, read from its first two bytes (all types are one-byte varUints). */
function messageTypeSlot(frame: Uint8Array): number {
  switch (frame[0]) {
    case MessageType.sync:
      return frame[1] === SyncType.step1
        ? 0
        : frame[1] === SyncType.step2
          ? 1
          : frame[1] === SyncType.update
            ? 2
            : OTHER
    case MessageType.awareness:
      return 3
    case MessageType.queryAwareness:
      return 4
    case MessageType.saved:
      return 5
    case MessageType.storage:
      return 6
    case MessageType.access:
      return 7
    default:
      return OTHER
  }
}

/** What the relay's parts report; every method is cheap enough to call per message. */
export interface RelayMetrics {
  /** A frame received from a peer (`frame` as it arrived, valid or not). */
  received(frame: Uint8Array): void
  /** A message queued for a peer. */
  sent(message: Uint8Array): void
  /** A connection closed with `code`. */
  connectionClosed(code: number): void
  /** One document update applied to a room's document, taking `seconds`. */
  updateApplied(seconds: number): void
  /** An update too costly for one turn was cut into `slices` slices (see update-slices.ts). */
  updateSliced(slices: number): void
  /** An update (or awareness update) was refused with a work or quota `reason`. */
  updateRefused(reason: 'work' | 'quota'): void
  /** One store append of `updates` updates committed, taking `seconds`. */
  storeCommitted(seconds: number, updates: number): void
  /** One store append failed (it will be retried). */
  storeFailed(): void
}

/** What the server's metrics read when scraped. */
export interface MetricsSources {
  connections(): number
  roomsLoaded(): number
  /** Event-loop stalls seen so far (the stall monitor's count), or 0 without one. */
  stalls(): number
  /** 1 when the Redis bus works, 0 when it does not, null without one (no series). */
  redisUp?(): number | null
  /** Event-loop delay over the rolling window (the same figures /health reports; reading resets nothing). */
  eventLoopDelay(): DelayStats
}

/** The `kind` label of the change-feed event counters. */
type FeedEventKind = 'change' | 'reset' | 'presence' | 'version'

export class ServerMetrics implements RelayMetrics, FanoutMetrics, FeedMetrics {
  readonly register = new Registry()
  /** Messages and bytes per [direction * types + type] slot, since the server started. */
  private readonly messages = new Float64Array(DIRECTIONS.length * MESSAGE_TYPES.length)
  private readonly bytes = new Float64Array(DIRECTIONS.length * MESSAGE_TYPES.length)
  private readonly closed: Counter<'code'>
  private readonly applySeconds: Histogram
  private readonly slicedUpdates: Counter
  private readonly slices: Counter
  private readonly refusedUpdates: Counter
  private readonly commitSeconds: Histogram
  private readonly commitBatch: Histogram
  private readonly storeFailures: Counter
  /** Fan-out frames and bytes per [direction * kinds + kind] slot. */
  private readonly fanoutFrames = new Float64Array(DIRECTIONS.length * BUS_KINDS.length)
  private readonly fanoutBytes = new Float64Array(DIRECTIONS.length * BUS_KINDS.length)
  private readonly fanoutLatency: Histogram
  private readonly busFailures: Counter<'operation'>
  private readonly resyncs: Counter
  private readonly feedSubscribers: Gauge
  private readonly feedEventCount: Counter<'kind'>
  private readonly feedEventBytes: Counter<'kind'>
  private readonly feedsClosed: Counter<'reason'>

  constructor(sources: MetricsSources) {
    const registers = [this.register]
    collectDefaultMetrics({ register: this.register })
    new Gauge({
      name: 'tandem_connections',
      help: 'Open WebSocket connections',
      registers,
      collect() {
        this.set(sources.connections())
      },
    })
    new Gauge({
      name: 'tandem_rooms_loaded',
      help: 'Rooms in memory',
      registers,
      collect() {
        this.set(sources.roomsLoaded())
      },
    })
    this.counterFromSlots('tandem_messages_total', 'Protocol messages by direction and type', this.messages)
    this.counterFromSlots(
      'tandem_message_bytes_total',
      'Bytes of protocol messages (whole frames) by direction and type',
      this.bytes,
    )
    this.closed = new Counter({
      name: 'tandem_connections_closed_total',
      help: 'Closed WebSocket connections by close code name',
      labelNames: ['code'],
      registers,
    })
    this.slicedUpdates = new Counter({
      name: 'tandem_updates_sliced_total',
      help: 'Updates too costly for one event-loop turn, applied in slices',
      registers,
    })
    this.slices = new Counter({
      name: 'tandem_update_slices_total',
      help: 'Slices those updates were applied in',
      registers,
    })
    this.refusedUpdates = new Counter({
      name: 'tandem_updates_refused_total',
      help: 'Document updates refused for the work they would cost or for the room quota',
      labelNames: ['reason'],
      registers,
    })
    this.applySeconds = new Histogram({
      name: 'tandem_update_apply_seconds',
      help: "Time to apply one document update to its room's document",
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
      registers,
    })
    this.commitSeconds = new Histogram({
      name: 'tandem_store_commit_seconds',
      help: 'Time of one store append (one group commit batch)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    })
    this.commitBatch = new Histogram({
      name: 'tandem_store_commit_batch_updates',
      help: 'Updates per store append (group commit batch size)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 1000],
      registers,
    })
    this.storeFailures = new Counter({
      name: 'tandem_store_failures_total',
      help: 'Failed store appends (each is retried; nothing is dropped)',
      registers,
    })
    let stallsSeen = 0
    new Counter({
      name: 'tandem_stalls_total',
      help: 'Event-loop stalls logged by the stall monitor (stallWarnMs)',
      registers,
      collect() {
        const stalls = sources.stalls()
        if (stalls > stallsSeen) this.inc(stalls - stallsSeen)
        stallsSeen = stalls
      },
    })
    this.counterFromSlots(
      'tandem_fanout_messages_total',
      'Frames exchanged with other instances through Redis, by direction and kind',
      this.fanoutFrames,
      'kind',
      BUS_KINDS,
    )
    this.counterFromSlots(
      'tandem_fanout_bytes_total',
      'Bytes of frames exchanged with other instances through Redis, by direction and kind',
      this.fanoutBytes,
      'kind',
      BUS_KINDS,
    )
    this.fanoutLatency = new Histogram({
      name: 'tandem_fanout_latency_seconds',
      help: 'From publish on another instance to receipt here (includes the Redis round trip)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    })
    this.busFailures = new Counter({
      name: 'tandem_redis_failures_total',
      help: 'Failed Redis operations (publishes, subscribes, pings, connections); each leads to a resync',
      labelNames: ['operation'],
      registers,
    })
    this.resyncs = new Counter({
      name: 'tandem_fanout_resyncs_total',
      help: 'Rooms re-read from the store because fan-out frames may have been missed',
      registers,
    })
    if (sources.redisUp) {
      const redisUp = sources.redisUp
      new Gauge({
        name: 'tandem_redis_up',
        help: '1 when publishing to and receiving from Redis both work',
        registers,
        collect() {
          this.set(redisUp() ?? 0)
        },
      })
    }
    this.feedSubscribers = new Gauge({
      name: 'tandem_feed_subscribers',
      help: 'Open change-feed streams (Server-Sent Events)',
      registers,
    })
    this.feedEventCount = new Counter({
      name: 'tandem_feed_events_total',
      help: 'Change-feed events written to streams (one per stream), by kind',
      labelNames: ['kind'],
      registers,
    })
    this.feedEventBytes = new Counter({
      name: 'tandem_feed_event_bytes_total',
      help: 'Bytes of change-feed events written to streams, by kind',
      labelNames: ['kind'],
      registers,
    })
    this.feedsClosed = new Counter({
      name: 'tandem_feed_closed_total',
      help: 'Change-feed streams ended, by reason (slow: its client did not read; it resumes on reconnecting)',
      labelNames: ['reason'],
      registers,
    })
    for (const kind of ['change', 'reset', 'presence', 'version'] satisfies FeedEventKind[]) {
      this.feedEventCount.inc({ kind }, 0)
      this.feedEventBytes.inc({ kind }, 0)
    }
    for (const reason of ['client', 'slow', 'shutdown', 'access', 'error'] satisfies StreamEnd[]) {
      this.feedsClosed.inc({ reason }, 0)
    }
    new Gauge({
      name: 'tandem_event_loop_delay_seconds',
      help: 'Event-loop delay over the last 60 s (a rolling window; scrapes reset nothing): its p99 and max',
      labelNames: ['stat'],
      registers,
      collect() {
        const { maxMs, p99Ms } = sources.eventLoopDelay()
        this.set({ stat: 'p99' }, p99Ms / 1e3)
        this.set({ stat: 'max' }, maxMs / 1e3)
      },
    })
  }

  /** A counter labelled {direction, <label>} whose values are `slots`, read at scrape time. */
  private counterFromSlots(
    name: string,
    help: string,
    slots: Float64Array,
    label = 'type',
    values: readonly string[] = MESSAGE_TYPES,
  ): void {
    const reported = new Float64Array(slots.length)
    new Counter({
      name,
      help,
      labelNames: ['direction', label],
      registers: [this.register],
      collect() {
        for (let d = 0; d < DIRECTIONS.length; d++) {
          for (let t = 0; t < values.length; t++) {
            const slot = d * values.length + t
            // Every series is exported (zero included), so rate() has a start point.
            this.inc({ direction: DIRECTIONS[d], [label]: values[t] }, slots[slot] - reported[slot])
            reported[slot] = slots[slot]
          }
        }
      },
    })
  }

  received(frame: Uint8Array): void {
    const slot = IN * MESSAGE_TYPES.length + messageTypeSlot(frame)
    this.messages[slot]++
    this.bytes[slot] += frame.byteLength
  }

  sent(message: Uint8Array): void {
    const slot = OUT * MESSAGE_TYPES.length + messageTypeSlot(message)
    this.messages[slot]++
    this.bytes[slot] += message.byteLength
  }

  connectionClosed(code: number): void {
    const name = closeCodeName(code)
    const known = !name.startsWith('close-') || RFC_CLOSE_CODES.has(code)
    this.closed.inc({ code: known ? name : 'other' })
  }

  updateApplied(seconds: number): void {
    this.applySeconds.observe(seconds)
  }

  updateSliced(slices: number): void {
    this.slicedUpdates.inc()
    this.slices.inc(slices)
  }

  updateRefused(reason: 'work' | 'quota'): void {
    this.refusedUpdates.inc({ reason })
  }

  storeCommitted(seconds: number, updates: number): void {
    this.commitSeconds.observe(seconds)
    this.commitBatch.observe(updates)
  }

  storeFailed(): void {
    this.storeFailures.inc()
  }

  fanoutPublished(kind: BusKind, bytes: number): void {
    this.fanoutFrames[OUT * BUS_KINDS.length + busKindSlot(kind)]++
    this.fanoutBytes[OUT * BUS_KINDS.length + busKindSlot(kind)] += bytes
  }

  fanoutReceived(kind: BusKind, bytes: number, latencySeconds: number): void {
    this.fanoutFrames[IN * BUS_KINDS.length + busKindSlot(kind)]++
    this.fanoutBytes[IN * BUS_KINDS.length + busKindSlot(kind)] += bytes
    this.fanoutLatency.observe(latencySeconds)
  }

  busFailed(operation: 'publish' | 'subscribe' | 'ping' | 'connection'): void {
    this.busFailures.inc({ operation })
  }

  resynced(rooms: number): void {
    this.resyncs.inc(rooms)
  }

  feedOpened(): void {
    this.feedSubscribers.inc()
  }

  feedClosed(reason: StreamEnd): void {
    this.feedSubscribers.dec()
    this.feedsClosed.inc({ reason })
  }

  feedEvents(kind: FeedEventKind, streams: number, bytes: number): void {
    this.feedEventCount.inc({ kind }, streams)
    this.feedEventBytes.inc({ kind }, bytes)
  }

  /** The exposition text for a scrape, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.register.contentType, body: await this.register.metrics() }
  }
}
