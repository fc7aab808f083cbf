/**
 * History for the whole server: one Versioner per loaded room (versioner.ts), attached when the
 * room loads and detached (its last version made) before it unloads, and the thinning of every
 * loaded room's automatic versions to the retention policy (retention.ts), when a room is attached
 * and every `historyThinIntervalMs` after, one room at a time, on the clock given (`now`).
 */
import type { Logger } from 'pino'
import type { ServerConfig } from '../config/config.ts'
import { BusKind, BusMessageError, decodeVersionEntry, encodeVersionEntry } from '../fanout/bus-message.ts'
import type { RoomPublisher } from '../fanout/room-bus.ts'
import type { RoomChangeLog } from '../rooms/change-log.ts'
import type { VersionInfo, VersionStore } from '../store/history-store.ts'
import type { RetentionPolicy } from './retention.ts'
import { realTimers, type Timers, Versioner } from './versioner.ts'

/** What the hub needs of a room. */
export interface HistoryRoom {
  readonly name: string
  readonly changes: RoomChangeLog
}

export type HistoryConfig = Pick<
  ServerConfig,
  | 'historyQuietMs'
  | 'historyMaxIntervalMs'
  | 'historyKeepAllDays'
  | 'historyHourlyDays'
  | 'historyThinIntervalMs'
>

export interface HistoryHubOptions {
  store: VersionStore
  config: HistoryConfig
  log: Logger
  /** The clock (ms since the epoch); Date.now by default. */
  now?: () => number
  timers?: Timers
}

/** `of` was asked for a room the hub does not hold (not loaded, or already unloading). */
export class RoomHistoryNotAttachedError extends Error {
  override readonly name = 'RoomHistoryNotAttachedError'
}

export class HistoryHub {
  private readonly versioners = new Map<string, { room: HistoryRoom; versioner: Versioner }>()
  private thinTimer: unknown
  private thinning: Promise<void> = Promise.resolve()
  private closed = false
  private readonly now: () => number
  private readonly timers: Timers
  private readonly policy: RetentionPolicy
  private bus: RoomPublisher | null = null

  constructor(private readonly options: HistoryHubOptions) {
    this.now = options.now ?? Date.now
    this.timers = options.timers ?? realTimers
    this.policy = {
      keepAllDays: options.config.historyKeepAllDays,
      hourlyDays: options.config.historyHourlyDays,
    }
    this.thinTimer = this.timers.setTimeout(() => this.thinLoaded(), options.config.historyThinIntervalMs)
  }

  /**
   * Connects the hub to the bus shared with other instances: each version made here is published,
   * and each one another instance made (`heard`) reaches the room's `version` listeners here.
   */
  useBus(bus: RoomPublisher): void {
    this.bus = bus
  }

  /** A version entry another instance published for `room` (ignored unless the room is loaded here). */
  heard(room: string, payload: Uint8Array): void {
    const entry = this.versioners.get(room)
    if (!entry) return
    let version: VersionInfo
    try {
      version = decodeVersionEntry(payload)
    } catch (err) {
      if (!(err instanceof BusMessageError)) throw err
      this.options.log.warn({ err, room }, 'refused a version entry from another instance')
      return
    }
    entry.versioner.heard(version)
  }

  /** Starts `room`'s versioner (a room loaded) and thins its history. */
  attach(room: HistoryRoom): Versioner {
    if (this.closed) throw new Error('the history hub is closed')
    const existing = this.versioners.get(room.name)
    if (existing?.room === room) return existing.versioner
    if (existing) void existing.versioner.close()
    const { store, config, log } = this.options
    const versioner = new Versioner({
      room: room.name,
      changes: room.changes,
      store,
      config,
      now: this.now,
      timers: this.timers,
      log,
      announce: (version) => this.bus?.publish(room.name, BusKind.version, encodeVersionEntry(version)),
    })
    this.versioners.set(room.name, { room, versioner })
    this.thin(room.name, versioner)
    return versioner
  }

  /** Stops `room`'s versioner, resolving once its last version is made (call before the room goes). */
  async detach(room: HistoryRoom): Promise<void> {
    const entry = this.versioners.get(room.name)
    if (!entry || entry.room !== room) return
    this.versioners.delete(room.name)
    await entry.versioner.close()
  }

  /** The versioner of a loaded room; throws RoomHistoryNotAttachedError for another. */
  of(room: HistoryRoom | string): Versioner {
    const name = typeof room === 'string' ? room : room.name
    const entry = this.versioners.get(name)
    if (!entry || (typeof room !== 'string' && entry.room !== room))
      throw new RoomHistoryNotAttachedError(`room ${name} has no history attached`)
    return entry.versioner
  }

  /** Thins every loaded room now, one after the other (also what the timer runs). */
  thinLoaded(): Promise<void> {
    if (this.thinTimer !== null) this.timers.clearTimeout(this.thinTimer)
    this.thinTimer = null
    for (const [name, { versioner }] of this.versioners) this.thin(name, versioner)
    const done = this.thinning
    if (!this.closed) {
      this.thinTimer = this.timers.setTimeout(
        () => this.thinLoaded(),
        this.options.config.historyThinIntervalMs,
      )
    }
    return done
  }

  /** Stops thinning and detaches every room (shutdown; the registry's unloads detach them first). */
  async close(): Promise<void> {
    this.closed = true
    if (this.thinTimer !== null) this.timers.clearTimeout(this.thinTimer)
    this.thinTimer = null
    const entries = [...this.versioners.values()]
    this.versioners.clear()
    await Promise.all(entries.map(({ versioner }) => versioner.close()))
    await this.thinning
  }

  /** Queues a thinning of one room's history after the ones queued before. */
  private thin(name: string, versioner: Versioner): void {
    this.thinning = this.thinning.then(async () => {
      if (this.versioners.get(name)?.versioner !== versioner) return
      try {
        const dropped = await versioner.thin(this.policy, this.now())
        if (dropped > 0) this.options.log.debug({ room: name, dropped }, 'history thinned')
      } catch (err) {
        this.options.log.warn({ err, room: name }, 'thinning the history failed; trying at the next run')
      }
    })
  }
}
