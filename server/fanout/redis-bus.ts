/**
 * RoomBus over Redis pub/sub (`ioredis`): one channel per room (`<prefix>room:<name>`), two
 * connections per instance (a subscriber connection can do nothing else). What a room publishes
 * during one event-loop turn goes out as one frame (one PUBLISH, which every subscriber parses,
 * its sender included: under load a group commit relays many updates of a room at once).
 *
 * Keeping the promise of room-bus.ts when Redis misbehaves:
 * - Publisher: no offline queue and no retries, so a publish while Redis is away fails at once
 *   instead of piling up in memory; a failed, timed-out or refused publish marks its room *missed*.
 *   Unanswered publishes are bounded (`maxPendingBytes`); past the bound, rooms are marked missed
 *   rather than buffered. When the publisher is ready again it publishes a `resync` frame for every
 *   missed room, and each instance holding one re-reads it from the store (which the update reached
 *   before it was published).
 * - Subscriber: on every (re)connection it subscribes to every room this instance holds, then asks
 *   the registry to resync all of them: anything published while it was away is in the store.
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
  encodeBusFrame,
  BusKind as Kind,
} from './bus-message.ts'
import type { FanoutMetrics, RoomBus, RoomBusListener } from './room-bus.ts'

export interface RedisBusOptions {
  url: string
  /** Prefix of every channel name, so several deployments (or test runs) can share one Redis. */
  prefix: string
  listener: RoomBusListener
  log: Logger
  metrics?: FanoutMetrics
  pingIntervalMs?: number
  /** Bytes of publishes Redis has not acknowledged yet, past which rooms are marked missed instead. */
  maxPendingBytes?: number
}

/** Channels subscribed per SUBSCRIBE command when resubscribing after a reconnection. */
const SUBSCRIBE_CHUNK = 500

export class RedisBus implements RoomBus {
  readonly instanceId = randomBytes(8).toString('hex')
  private readonly pub: Redis
  private readonly sub: Redis
  private readonly rooms = new Set<string>()
  private readonly missed = new Set<string>()
  private readonly channelPrefix: string
  private pubReady = false
  private subReady = false
  private pendingBytes = 0
  private readonly maxPendingBytes: number
  private readonly pingTimer: NodeJS.Timeout
  private closed = false
  private publishFailureLogged = false
  /** Entries published this turn, per room, in order (flushed from setImmediate). */
  private queued = new Map<string, BusEntry[]>()
  private flushScheduled = false
  /** Per connection: an outage already logged (one warning per outage, not one per retry). */
  private readonly outageLogged = { publisher: false, subscriber: false }

  constructor(private readonly options: RedisBusOptions) {
    this.channelPrefix = `${options.prefix}room:`
    this.maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024
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

  publish(room: string, kind: BusKind, payload: Uint8Array): void {
    if (!this.pubReady || this.pendingBytes > this.maxPendingBytes) {
      this.missed.add(room)
      return
    }
    let entries = this.queued.get(room)
    if (!entries) {
      entries = []
      this.queued.set(room, entries)
    }
    entries.push({ kind, payload })
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
  }

  /** Publishes what rooms queued this turn, one frame per room. */
  private readonly flush = (): void => {
    this.flushScheduled = false
    const queued = this.queued
    this.queued = new Map()
    for (const [room, entries] of queued) {
      if (!this.pubReady) {
        this.missed.add(room)
        continue
      }
      const frame = encodeBusFrame(this.instanceId, entries)
      const bytes = frame.byteLength
      this.pendingBytes += bytes
      this.pub.publish(this.channelPrefix + room, Buffer.from(frame.buffer, frame.byteOffset, bytes)).then(
        () => {
          this.pendingBytes -= bytes
          for (const entry of entries)
            this.options.metrics?.fanoutPublished(entry.kind, entry.payload.byteLength)
        },
        (err) => {
          this.pendingBytes -= bytes
          this.missed.add(room)
          this.failed('publish', err)
        },
      )
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.pingTimer)
    this.flush()
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
      if (role === 'publisher') this.pubReady = false
      else this.subReady = false
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

  private publisherReady(): void {
    this.pubReady = true
    this.publishFailureLogged = false
    const missed = [...this.missed]
    this.missed.clear()
    for (const room of missed) this.publish(room, Kind.resync, new Uint8Array(0))
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
    const rooms = [...this.rooms]
    if (rooms.length > 0) this.options.listener.resync(rooms)
  }

  private ping(connection: Redis, role: 'publisher' | 'subscriber', timeoutMs: number): void {
    if (this.closed || connection.status !== 'ready') return
    let answered = false
    const timer = setTimeout(() => {
      if (answered || this.closed) return
      this.failed('ping', new Error(`no answer to PING within ${timeoutMs} ms`), role)
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
      if (!name.startsWith(this.channelPrefix)) return
      const room = name.slice(this.channelPrefix.length)
      const message = decodeBusFrame(frame)
      if (message.sender === this.instanceId) return
      const latency = Math.max(0, Date.now() - message.sentAt) / 1000
      for (const entry of message.entries) {
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
