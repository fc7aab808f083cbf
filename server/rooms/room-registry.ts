/**
 * The rooms of this process. `open(name)` returns the loaded room, loading it once however many
 * callers ask at the same time, and counts the caller as a holder; `release(room)` gives the hold
 * back. Holders are whatever needs the room in memory: a WebSocket connection, a change-feed
 * subscriber, an HTTP request. When the last holder releases a room, after a grace period it is
 * flushed, compacted and unloaded, returning its memory.
 *
 * With a bus (instances sharing one store): a room is subscribed to before it is loaded from the
 * store, so nothing another instance commits falls between the two (frames arriving during the
 * load are applied after it; duplicates are harmless). When the bus asks for a resync, the rooms
 * are re-read from the store and merged (`Room.mergeStored`), a few at a time.
 */
import type { Logger } from 'pino'
import type { ServerConfig } from '../config/config.ts'
import type { BusEntry } from '../fanout/bus-message.ts'
import type { FanoutMetrics, RoomBus, RoomBusListener } from '../fanout/room-bus.ts'
import type { RelayMetrics } from '../ops/metrics.ts'
import type { DocStore } from '../store/index.ts'
import type { CommitQueue } from './commit-queue.ts'
import { Room, type RoomConfig } from './room.ts'
import { readConsistent } from './sequencer.ts'

/**
 * The registry's slice of the server's config (each documented in config.ts): what its rooms apply,
 * and how long an unheld room stays loaded (`roomUnloadDelayMs`); plus the metrics it feeds.
 */
export type RoomRegistryOptions = RoomConfig &
  Pick<ServerConfig, 'roomUnloadDelayMs'> & {
    /** Given to each room (see RoomOptions.metrics). */
    metrics?: RelayMetrics
    /** Counts resyncs (see metrics.ts). */
    fanoutMetrics?: Pick<FanoutMetrics, 'resynced'>
    /** Hears rooms come and go (the history hub). */
    lifecycle?: RoomLifecycle
  }

/**
 * Hears the registry's rooms: `loaded` once a room is in memory (again, when an unload is called
 * off because someone opened it meanwhile), `unloading` before it goes, its changes committed
 * (awaited: e.g. the room's last version is made).
 */
export interface RoomLifecycle {
  loaded(room: Room): void
  unloading(room: Room): Promise<void>
}

/** Frames from the bus for a room still loading, applied once it has loaded. */
interface PendingRemote {
  messages: BusEntry[]
  /** A resync was asked for while loading (the load may have read the store before the gap). */
  resync: boolean
}

/** Bus frames kept for one loading room; past this the room is resynced from the store instead. */
const MAX_PENDING_REMOTE = 10_000
/** Rooms re-read from the store at the same time during a resync. */
const RESYNC_CONCURRENCY = 4

export class RoomRegistry implements RoomBusListener {
  private readonly rooms = new Map<string, Room>()
  private readonly loading = new Map<string, Promise<Room>>()
  private readonly unloadTimers = new Map<Room, NodeJS.Timeout>()
  private readonly holders = new Map<Room, number>()
  private readonly unloading = new Map<string, Promise<void>>()
  private readonly pendingRemote = new Map<string, PendingRemote>()
  private readonly resyncQueue = new Set<string>()
  private resyncsRunning = 0
  private bus: RoomBus | null = null

  constructor(
    private readonly store: DocStore,
    private readonly commits: CommitQueue,
    private readonly options: RoomRegistryOptions,
    private readonly log: Logger,
  ) {}

  /** Connects the registry to the bus shared with other instances (before any room is opened). */
  useBus(bus: RoomBus): void {
    this.bus = bus
  }

  /** RoomBusListener: an entry another instance published. */
  message(name: string, message: BusEntry): void {
    const room = this.rooms.get(name)
    if (room && !room.destroyed) {
      this.resyncUnless(name, room.applyRemote(message.kind, message.payload))
      return
    }
    const pending = this.pendingRemote.get(name)
    if (!pending) return
    if (pending.messages.length < MAX_PENDING_REMOTE) pending.messages.push(message)
    else pending.resync = true
  }

  /** Resyncs `name` when `applied` is (or resolves to) false (see Room.applyRemote). */
  private resyncUnless(name: string, applied: boolean | Promise<boolean>): void {
    if (applied === true) return
    if (applied === false) this.resync([name])
    else void applied.then((ok) => ok || this.resync([name]))
  }

  /** RoomBusListener: bring `names` up to date from the store (those loaded or loading). */
  resync(names: string[]): void {
    for (const name of names) {
      const pending = this.pendingRemote.get(name)
      if (pending) pending.resync = true
      else if (this.rooms.has(name)) this.resyncQueue.add(name)
    }
    this.runResyncs()
  }

  /** Resyncs queued rooms, at most RESYNC_CONCURRENCY at a time. */
  private runResyncs(): void {
    while (this.resyncsRunning < RESYNC_CONCURRENCY && this.resyncQueue.size > 0) {
      const name = this.resyncQueue.values().next().value as string
      this.resyncQueue.delete(name)
      this.resyncsRunning++
      this.resyncRoom(name)
        .catch((err) => {
          // Try again later: a resync is what stands between this room and a gap.
          this.log.error({ err, room: name }, 'resync from the store failed; retrying')
          setTimeout(() => this.resync([name]), 1_000).unref()
        })
        .finally(() => {
          this.resyncsRunning--
          this.runResyncs()
        })
    }
  }

  private async resyncRoom(name: string): Promise<void> {
    if (!this.rooms.has(name)) return
    const stored = await this.store.load(name)
    const room = this.rooms.get(name)
    if (!room || room.destroyed) return
    await room.mergeStored(stored)
    this.options.fanoutMetrics?.resynced(1)
  }

  /** Number of rooms in memory. */
  get size(): number {
    return this.rooms.size
  }

  /** Every loaded room. */
  loaded(): IterableIterator<Room> {
    return this.rooms.values()
  }

  /** True when `name` is loaded or loading. */
  isOpen(name: string): boolean {
    return this.rooms.has(name) || this.loading.has(name)
  }

  /** Rooms loaded or loading (what the rooms-loaded limit counts). */
  get openCount(): number {
    return this.rooms.size + this.loading.size
  }

  /** The loaded room called `name`, if any. */
  get(name: string): Room | undefined {
    return this.rooms.get(name)
  }

  /**
   * Loads `name` (sharing one load among concurrent callers), cancels any pending unload, and
   * counts the caller as a holder until it calls `release` (once per successful `open`).
   */
  async open(name: string): Promise<Room> {
    const room = await this.load(name)
    this.holders.set(room, (this.holders.get(room) ?? 0) + 1)
    this.cancelUnload(room)
    return room
  }

  /** How many holders keep `room` loaded. */
  holderCount(room: Room): number {
    return this.holders.get(room) ?? 0
  }

  private load(name: string): Promise<Room> {
    const loaded = this.rooms.get(name)
    if (loaded) return Promise.resolve(loaded)
    let pending = this.loading.get(name)
    if (!pending) {
      pending = this.loadFromStore(name)
      this.loading.set(name, pending)
      pending.then(
        () => this.loading.delete(name),
        () => this.loading.delete(name),
      )
    }
    return pending
  }

  /** Gives back one hold on `room`; the last one schedules it for unloading. */
  release(room: Room): void {
    const held = (this.holders.get(room) ?? 0) - 1
    if (held > 0) {
      this.holders.set(room, held)
      return
    }
    this.holders.delete(room)
    if (this.unloadTimers.has(room) || room.destroyed) return
    const timer = setTimeout(() => {
      this.unloadTimers.delete(room)
      this.unload(room).catch((err) => this.log.error({ err, room: room.name }, 'unloading the room failed'))
    }, this.options.roomUnloadDelayMs)
    timer.unref()
    this.unloadTimers.set(room, timer)
  }

  /** Flushes, compacts and unloads every room (shutdown). */
  async closeAll(): Promise<void> {
    for (const timer of this.unloadTimers.values()) clearTimeout(timer)
    this.unloadTimers.clear()
    await Promise.allSettled([...this.loading.values()])
    await Promise.all([...this.rooms.values()].map((room) => this.unload(room, true)))
  }

  private async loadFromStore(name: string): Promise<Room> {
    // A room still unloading finishes first, so its last snapshot is what we load.
    await this.unloading.get(name)
    const again = this.rooms.get(name)
    if (again) return again
    const started = performance.now()
    let pending: PendingRemote | undefined
    if (this.bus) {
      // Subscribe first: whatever another instance commits from now on reaches us by the bus,
      // whatever it committed before is in what we load next.
      pending = { messages: [], resync: false }
      this.pendingRemote.set(name, pending)
      await this.bus.subscribe(name)
    }
    let room: Room
    let updates = 0
    try {
      // The room's latest change id is read beside its state: nothing commits to an unloaded room
      // on this instance. With other instances, consistently with it (rooms/sequencer.ts).
      const { stored, latest } = this.bus
        ? await readConsistent(this.store, name).then((read) => ({
            stored: read.stored,
            latest: { id: read.latest, at: read.latestAt, exact: read.exact },
          }))
        : await Promise.all([
            this.store.load(name),
            this.store.changesSince(name, Number.MAX_SAFE_INTEGER, 0),
          ]).then(([stored, changes]) => ({ stored, latest: { id: changes.latest, at: changes.latestAt } }))
      updates = stored.updates.length
      room = await Room.open({
        name,
        stored,
        latest,
        store: this.store,
        commits: this.commits,
        config: this.options,
        log: this.log,
        bus: this.bus,
        metrics: this.options.metrics,
        authors: this.store.authors,
      })
      if (room.setAside.length > 0) await this.recover(room)
    } catch (err) {
      if (pending) {
        this.pendingRemote.delete(name)
        this.bus?.unsubscribe(name)
      }
      throw err
    }
    this.rooms.set(name, room)
    this.options.lifecycle?.loaded(room)
    if (pending) {
      this.pendingRemote.delete(name)
      for (const message of pending.messages) {
        this.resyncUnless(name, room.applyRemote(message.kind, message.payload))
      }
      if (pending.resync) this.resync([name])
    }
    this.log.debug({ room: name, updates, ms: Math.round(performance.now() - started) }, 'room loaded')
    return room
  }

  /**
   * A room loaded with parts set aside (unreadable stored updates): keep them in the store's
   * quarantine, then compact, so what is stored is what the room now holds and loads cleanly.
   */
  private async recover(room: Room): Promise<void> {
    this.log.error(
      {
        room: room.name,
        setAside: room.setAside.map(({ source, reason, data }) => ({
          source,
          reason,
          bytes: data.byteLength,
        })),
      },
      `room ${room.name}: ${room.setAside.length} stored update(s) could not be applied; loaded everything else, ` +
        'kept the unreadable ones in the quarantine table and rewrote the room from what loaded',
    )
    await this.store.setAside(
      room.name,
      room.setAside.map(({ data, reason, source }) => ({ data, reason: `${source}: ${reason}` })),
    )
    await room.compact()
  }

  private cancelUnload(room: Room): void {
    const timer = this.unloadTimers.get(room)
    if (timer) {
      clearTimeout(timer)
      this.unloadTimers.delete(room)
    }
  }

  private unload(room: Room, force = false): Promise<void> {
    const existing = this.unloading.get(room.name)
    if (existing) return existing
    const done = (async () => {
      await this.commits.drain()
      await this.options.lifecycle?.unloading(room)
      await room.compact()
      // Someone opened it while we flushed: keep the room.
      if (!force && this.holderCount(room) > 0) {
        this.options.lifecycle?.loaded(room)
        return
      }
      if (this.rooms.get(room.name) === room) this.rooms.delete(room.name)
      room.destroy()
      this.bus?.unsubscribe(room.name)
      this.log.debug({ room: room.name }, 'room unloaded')
    })().finally(() => this.unloading.delete(room.name))
    this.unloading.set(room.name, done)
    return done
  }
}
