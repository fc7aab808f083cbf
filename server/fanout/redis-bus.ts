/**
 * RoomBus over Redis pub/sub (`ioredis`): one channel per room (`<prefix>room:<name>`), one for
 * policy announcements (`<prefix>policy`, which every instance subscribes to whatever rooms it
 * holds), two connections per instance (a subscriber connection can do nothing else). What a room
 * publishes during one event-loop turn goes out as one frame (one PUBLISH, which every subscriber
 * parses, its sender included: under load a group commit relays many updates of a room at once).
 *
 * Staying inside Redis's limits: Redis closes a subscriber whose output buffer passes its
 * `client-output-buffer-limit` (pub/sub default: 32 MiB at once, or 8 MiB for 60 s), which drops
 * every instance off the bus at once. So a frame is at most `maxFrameBytes` (1 MiB; more entries
 * go into more frames, in order); an update larger than that is not sent at all but *by reference*:
 * a `resync` entry in its place tells receivers to re-read the room from the store, which holds it
 * (commit, then publish). And publishes are paced: at most `maxInFlightBytes` (4 MiB) unanswered at
 * a time, the rest wait their turn in order.
 *
 * Keeping the promise of room-bus.ts when Redis misbehaves:
 * - Publisher: no offline queue and no retries, so a publish while Redis is away fails at once
 *   instead of piling up in memory; a failed, timed-out or refused publish marks its room *missed*.
 *   Unanswered publishes are bounded (`maxPendingBytes`); past the bound, rooms are marked missed
 *   rather than buffered. When the publisher is ready again it publishes a `resync` frame for every
 *   missed room, and each instance holding one re-reads it from the store (which the update reached
 *   before it was published).
 * - Subscriber: on every (re)connection it subscribes to the policy channel and every room this
 *   instance holds, then asks the registry to resync all of them (anything published while it was
 *   away is in the store) and the policy listener to re-read every policy. A connection Redis or
 *   the network closes is logged with the reason and counted (`busFailed('connection')`).
 * - Policy announcements that fail to publish are published again once the publisher is back.
 * - Both connections are pinged every `pingIntervalMs`; one that does not answer within the
 *   interval is dropped and reconnected (a silent Redis, a half-open connection), with the same
 *   recovery. Until both are back, `problem` says so and `GET /ready` answers 503; this instance
 *   keeps serving its own clients meanwhile.
 */
import { randomBytes } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import {
  type BusEntry,
  type BusKind,
  BusMessageError,
  decodeBusFrame,
  ENTRY_HEADER_BYTES,
  encodeBusFrame,
  FRAME_HEADER_BYTES,
  BusKind as Kind,
} from './bus-message.ts'
import type { FanoutMetrics, PolicyListener, RoomBus, RoomBusListener } from './room-bus.ts'

export interface RedisBusOptions {
  url: string
  /** Prefix of every channel name, so several deployments (or test runs) can share one Redis. */
  prefix: string
  listener: RoomBusListener
  log: Logger
  metrics?: FanoutMetrics
  pingIntervalMs?: number
  /** Bytes of publishes not yet acknowledged (sent or waiting), past which rooms are marked missed instead. */
  maxPendingBytes?: number
  /** Largest frame published; a larger update is published by reference (a `resync` entry). */
  maxFrameBytes?: number
  /** Bytes of frames sent to Redis and not yet acknowledged, at most; later frames wait. */
  maxInFlightBytes?: number
}

/** A frame waiting for its turn (or in flight) to Redis. */
interface OutgoingFrame {
  channel: string
  /** The room it is for; null on the policy channel. */
  room: string | null
  entries: BusEntry[]
  frame: Uint8Array
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** Channels subscribed per SUBSCRIBE command when resubscribing after a reconnection. */
const SUBSCRIBE_CHUNK = 500

export class RedisBus implements RoomBus {
  readonly instanceId = randomBytes(8).toString('hex')
  private readonly pub: Redis
  private readonly sub: Redis
  private readonly rooms = new Set<string>()
  private readonly missed = new Set<string>()
  /** Rooms whose policy announcement failed: announced again once the publisher is back. */
  private readonly policyMissed = new Set<string>()
  private readonly channelPrefix: string
  private readonly policyChannel: string
  private policyListener: PolicyListener | null = null
  private pubReady = false
  private subReady = false
  /** Bytes of frames in flight plus waiting in `outbox`. */
  private pendingBytes = 0
  private inFlightBytes = 0
  private readonly outbox: OutgoingFrame[] = []
  private outboxHead = 0
  private drainWaiters: Array<() => void> = []
  private readonly maxPendingBytes: number
  private readonly maxFrameBytes: number
  private readonly maxInFlightBytes: number
  private readonly pingTimer: NodeJS.Timeout
  private closed = false
  private publishFailureLogged = false
  /** Entries published this turn, per channel, in order (flushed from setImmediate). */
  private queued = new Map<string, { room: string | null; entries: BusEntry[] }>()
  private flushScheduled = false
  private missedRetry: NodeJS.Timeout | null = null
  /** Per connection: an outage already logged (one warning per outage, not one per retry). */
  private readonly outageLogged = { publisher: false, subscriber: false }
  /** Per connection: why this process dropped it (a ping unanswered), for the warning that follows. */
  private readonly dropReason: { publisher: string | null; subscriber: string | null } = {
    publisher: null,
    subscriber: null,
  }

  constructor(private readonly options: RedisBusOptions) {
    this.channelPrefix = `${options.prefix}room:`
    this.policyChannel = `${options.prefix}policy`
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024
    this.maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024
    this.maxInFlightBytes = options.maxInFlightBytes ?? 4 * 1024 * 1024
    if (this.maxFrameBytes < 1024) throw new TypeError('maxFrameBytes must be at least 1024')
    const interval = options.pingIntervalMs ?? 5_000
    const common: RedisOptions = {
      connectionName: `tandem-${this.instanceId}`,
      // A command in flight when the connection drops fails instead of being replayed later.
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 5_000,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    }
    this.pub = new Redis(options.url, {
      ...common,
      enableAutoPipelining: true,
      commandTimeout: interval,
    })
    this.sub = new Redis(options.url, { ...common, autoResubscribe: false })
    this.watch(this.pub, 'publisher')
    this.watch(this.sub, 'subscriber')
    this.sub.on('messageBuffer', (channel: Buffer, frame: Buffer) => this.receive(channel, frame))
    this.pingTimer = setInterval(() => {
      this.ping(this.pub, 'publisher', interval)
      this.ping(this.sub, 'subscriber', interval)
    }, interval)
    this.pingTimer.unref()
  }

  get problem(): string | null {
    if (this.pubReady && this.subReady) return null
    const down = [!this.pubReady && 'publishing', !this.subReady && 'receiving'].filter(Boolean).join(' and ')
    return `redis: ${down} unavailable (${redisLocation(this.options.url)}); serving this instance's clients only`
  }

  async subscribe(room: string): Promise<void> {
    this.rooms.add(room)
    if (!this.subReady) return
    try {
      await this.sub.subscribe(this.channelPrefix + room)
    } catch (err) {
      // The reconnection this forces subscribes again and resyncs every room.
      this.failed('subscribe', err)
      this.sub.disconnect(true)
    }
  }

  unsubscribe(room: string): void {
    if (!this.rooms.delete(room) || !this.subReady) return
    this.sub.unsubscribe(this.channelPrefix + room).catch((err) => this.failed('subscribe', err))
  }

  usePolicyListener(listener: PolicyListener): void {
    this.policyListener = listener
  }

  publish(room: string, kind: BusKind, payload: Uint8Array): void {
    if (!this.pubReady || this.pendingBytes > this.maxPendingBytes) {
      this.missed.add(room)
      return
    }
    this.enqueue(this.channelPrefix + room, room, { kind, payload })
  }

  publishPolicy(room: string): void {
    if (!this.pubReady) {
      this.policyMissed.add(room)
      return
    }
    this.enqueue(this.policyChannel, null, { kind: Kind.policy, payload: utf8.encode(room) })
  }

  private enqueue(channel: string, room: string | null, entry: BusEntry): void {
    let queued = this.queued.get(channel)
    if (!queued) {
      queued = { room, entries: [] }
      this.queued.set(channel, queued)
    }
    queued.entries.push(entry)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
  }

  /** Turns what channels queued this turn into frames (one per channel unless past the bound), in order. */
  private readonly flush = (): void => {
    this.flushScheduled = false
    const queued = this.queued
    this.queued = new Map()
    for (const [channel, { room, entries }] of queued) {
      for (const frameEntries of this.framed(room, entries)) {
        const frame = encodeBusFrame(this.instanceId, frameEntries)
        this.pendingBytes += frame.byteLength
        this.outbox.push({ channel, room, entries: frameEntries, frame })
      }
    }
    this.pump()
  }

  /**
   * Splits `entries` into runs that fit a frame; an update too large for any frame is replaced by
   * a `resync` entry (receivers re-read the room from the store, which already holds the update).
   */
  private framed(room: string | null, entries: BusEntry[]): BusEntry[][] {
    const budget = this.maxFrameBytes - FRAME_HEADER_BYTES
    const frames: BusEntry[][] = []
    let current: BusEntry[] = []
    let size = 0
    for (let entry of entries) {
      if (entry.payload.byteLength + ENTRY_HEADER_BYTES > budget) {
        if ((entry.kind !== Kind.update && entry.kind !== Kind.change) || room === null) {
          this.options.log.warn(
            { room, kind: entry.kind, bytes: entry.payload.byteLength },
            'dropped a bus entry larger than a frame',
          )
          continue
        }
        this.options.log.info(
          { room, bytes: entry.payload.byteLength, maxFrameBytes: this.maxFrameBytes },
          'update larger than a bus frame: published by reference (other instances re-read the room)',
        )
        entry = { kind: Kind.resync, payload: new Uint8Array(0) }
      }
      const cost = entry.payload.byteLength + ENTRY_HEADER_BYTES
      if (size + cost > budget && current.length > 0) {
        frames.push(current)
        current = []
        size = 0
      }
      current.push(entry)
      size += cost
    }
    if (current.length > 0) frames.push(current)
    return frames
  }

  /** Sends waiting frames, in order, while fewer than `maxInFlightBytes` are unanswered. */
  private pump(): void {
    while (this.outboxHead < this.outbox.length) {
      const next = this.outbox[this.outboxHead]
      if (
        this.pubReady &&
        this.inFlightBytes > 0 &&
        this.inFlightBytes + next.frame.byteLength > this.maxInFlightBytes
      ) {
        break
      }
      this.outboxHead++
      if (!this.pubReady) {
        this.pendingBytes -= next.frame.byteLength
        this.markMissed(next)
        continue
      }
      this.send(next)
    }
    if (this.outboxHead === this.outbox.length) {
      this.outbox.length = 0
      this.outboxHead = 0
      if (this.inFlightBytes === 0) {
        for (const resolve of this.drainWaiters.splice(0)) resolve()
        // Rooms missed while the publisher stayed up (a backlog past maxPendingBytes, a refused
        // publish) are not waiting for a reconnection: they resync once the backlog is gone.
        if (this.pubReady && !this.closed && (this.missed.size > 0 || this.policyMissed.size > 0)) {
          this.retryMissedSoon()
        }
      }
    } else if (this.outboxHead > 1024) {
      this.outbox.splice(0, this.outboxHead)
      this.outboxHead = 0
    }
  }

  private send(outgoing: OutgoingFrame): void {
    const { frame, entries, channel } = outgoing
    const bytes = frame.byteLength
    this.inFlightBytes += bytes
    const done = () => {
      this.inFlightBytes -= bytes
      this.pendingBytes -= bytes
      this.pump()
    }
    this.pub.publish(channel, Buffer.from(frame.buffer, frame.byteOffset, bytes)).then(
      () => {
        if (outgoing.room !== null) {
          for (const entry of entries)
            this.options.metrics?.fanoutPublished(entry.kind, entry.payload.byteLength)
        }
        done()
      },
      (err) => {
        this.markMissed(outgoing)
        this.failed('publish', err)
        done()
      },
    )
  }

  /** A frame that did not reach Redis: its room resyncs, or its policies are announced again. */
  private markMissed(outgoing: OutgoingFrame): void {
    if (outgoing.room !== null) this.missed.add(outgoing.room)
    else for (const entry of outgoing.entries) this.policyMissed.add(fromUtf8.decode(entry.payload))
  }

  /** Resolves once every frame queued so far is answered (or marked missed). */
  private drained(): Promise<void> {
    if (this.outbox.length === this.outboxHead && this.inFlightBytes === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainWaiters.push(resolve))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.pingTimer)
    clearTimeout(this.missedRetry ?? undefined)
    this.flush()
    await this.drained()
    // QUIT is answered after every publish sent before it.
    await Promise.allSettled([this.pub.quit(), this.sub.quit()])
    this.pub.disconnect()
    this.sub.disconnect()
  }

  private watch(connection: Redis, role: 'publisher' | 'subscriber'): void {
    connection.on('ready', () => {
      if (this.closed) return
      if (this.outageLogged[role]) this.options.log.info({ role }, `redis ${role} connected again`)
      this.outageLogged[role] = false
      if (role === 'publisher') this.publisherReady()
      else void this.subscriberReady()
    })
    connection.on('close', () => {
      const wasReady = role === 'publisher' ? this.pubReady : this.subReady
      if (role === 'publisher') this.pubReady = false
      else this.subReady = false
      // Frames waiting for their turn will not get one on this connection.
      if (role === 'publisher') this.pump()
      const reason = this.dropReason[role]
      this.dropReason[role] = null
      if (!wasReady || this.closed || this.outageLogged[role]) return
      // Redis closes a subscriber past its output-buffer limit without a word: say so here.
      this.outageLogged[role] = true
      this.options.metrics?.busFailed('connection')
      this.options.log.warn(
        {
          role,
          reason:
            reason ?? 'closed by Redis or the network (e.g. past client-output-buffer-limit, CLIENT KILL)',
          redis: redisLocation(this.options.url),
        },
        `redis ${role} connection lost; reconnecting (this instance serves its own clients meanwhile)`,
      )
    })
    connection.on('error', (err: Error) => {
      if (this.closed || this.outageLogged[role]) return
      this.outageLogged[role] = true
      this.options.metrics?.busFailed('connection')
      this.options.log.warn(
        { err: err.message, role, redis: redisLocation(this.options.url) },
        `redis ${role} connection failed; retrying (this instance serves its own clients meanwhile)`,
      )
    })
  }

  private retryMissedSoon(): void {
    if (this.missedRetry) return
    this.missedRetry = setTimeout(() => {
      this.missedRetry = null
      if (this.pubReady && !this.closed) this.publishMissed()
    }, 1_000)
    this.missedRetry.unref()
  }

  private publisherReady(): void {
    this.pubReady = true
    this.publishFailureLogged = false
    this.publishMissed()
  }

  /** Publishes a `resync` for every missed room and the policy announcements that failed. */
  private publishMissed(): void {
    const missed = [...this.missed]
    this.missed.clear()
    for (const room of missed) this.publish(room, Kind.resync, new Uint8Array(0))
    const policies = [...this.policyMissed]
    this.policyMissed.clear()
    for (const room of policies) this.publishPolicy(room)
    if (missed.length > 0) {
      this.options.log.info(
        { rooms: missed.length },
        'redis: asked other instances to resync rooms whose publishes failed',
      )
    }
  }

  private async subscriberReady(): Promise<void> {
    // Rooms opened while this runs are added to `rooms` too: loop until every one is subscribed.
    const subscribed = new Set<string>()
    try {
      await this.sub.subscribe(this.policyChannel)
      for (;;) {
        const rooms = [...this.rooms].filter((room) => !subscribed.has(room)).slice(0, SUBSCRIBE_CHUNK)
        if (rooms.length === 0) break
        await this.sub.subscribe(...rooms.map((room) => this.channelPrefix + room))
        for (const room of rooms) subscribed.add(room)
      }
    } catch (err) {
      this.failed('subscribe', err)
      this.sub.disconnect(true)
      return
    }
    this.subReady = true
    // Anything published while the subscriber was away reached the store first.
    this.policyListener?.policiesStale()
    const rooms = [...this.rooms]
    if (rooms.length > 0) this.options.listener.resync(rooms)
  }

  private ping(connection: Redis, role: 'publisher' | 'subscriber', timeoutMs: number): void {
    if (this.closed || connection.status !== 'ready') return
    let answered = false
    const timer = setTimeout(() => {
      if (answered || this.closed) return
      this.failed('ping', new Error(`no answer to PING within ${timeoutMs} ms`), role)
      this.dropReason[role] = `no answer to PING within ${timeoutMs} ms`
      connection.disconnect(true)
    }, timeoutMs)
    timer.unref()
    connection.ping().then(
      () => {
        answered = true
        clearTimeout(timer)
      },
      () => {
        // The connection's close/error events report the cause.
        answered = true
        clearTimeout(timer)
      },
    )
  }

  private receive(channel: Buffer, frame: Buffer): void {
    try {
      const name = channel.toString()
      if (name === this.policyChannel) {
        this.receivePolicies(frame)
        return
      }
      if (!name.startsWith(this.channelPrefix)) return
      const room = name.slice(this.channelPrefix.length)
      const message = decodeBusFrame(frame)
      if (message.sender === this.instanceId) return
      const latency = Math.max(0, Date.now() - message.sentAt) / 1000
      for (const entry of message.entries) {
        if (entry.kind === Kind.policy) continue
        this.options.metrics?.fanoutReceived(entry.kind, entry.payload.byteLength, latency)
        if (entry.kind === Kind.resync) this.options.listener.resync([room])
        else this.options.listener.message(room, entry)
      }
    } catch (err) {
      const malformed = err instanceof BusMessageError
      this.options.log.error(
        { err, channel: channel.toString().slice(0, 200) },
        malformed ? 'dropped a malformed frame from redis' : 'handling a frame from redis failed',
      )
    }
  }

  /** A frame on the policy channel: each room it names re-reads its policy. */
  private receivePolicies(frame: Buffer): void {
    const message = decodeBusFrame(frame)
    if (message.sender === this.instanceId) return
    for (const entry of message.entries) {
      if (entry.kind === Kind.policy) this.policyListener?.policyChanged(fromUtf8.decode(entry.payload))
    }
  }

  private failed(operation: 'publish' | 'subscribe' | 'ping', err: unknown, role?: string): void {
    this.options.metrics?.busFailed(operation)
    if (this.closed) return
    // A dropped connection fails every publish in flight: one warning until it is back.
    if (operation === 'publish') {
      if (this.publishFailureLogged) return
      this.publishFailureLogged = true
    }
    this.options.log.warn(
      { err: err instanceof Error ? err.message : String(err), operation, role },
      `redis ${operation} failed`,
    )
  }
}

/** Host and port of a Redis URL, never its password. */
export function redisLocation(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port || '6379'}`
  } catch {
    return 'an unparsable REDIS_URL'
  }
}
