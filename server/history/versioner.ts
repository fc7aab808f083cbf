/**
 * A loaded room's versions (PROTOCOL.md, "History and authorship"): one Versioner per room an
 * instance holds, listening to the room's committed changes (`room.changes`).
 *
 * - Automatic versions: once changes pause for `historyQuietMs`, and at most `historyMaxIntervalMs`
 *   after the first change since the latest version; on `close` (the room unloads) when changes
 *   came since. None while the text stands where the latest version has it.
 * - Named versions (`name`) and restore versions (`recordRestore`) of the current text, always new.
 * - Content: the op from the latest version, composed from the deltas of the changes since it
 *   (heard as they commit, or read from the room's memory of recent changes), or the whole text by
 *   the checkpoint rule (version-chain.ts) and whenever those changes are not all known (after a
 *   restart whose changes memory does not reach back to the latest version, or once another
 *   instance's version or a removal moved the latest).
 * - Several instances: each makes versions; the store refuses a second automatic version of one
 *   change and an op on a latest version that moved (StaleVersionBaseError): the versioner then
 *   learns the latest again from the store and tries once more.
 * - Making a version copies the text only for a checkpoint. Texts of versions (`text`) are rebuilt
 *   from their chains off the hot path (sliced) and the last few are cached; thinning (`thin`) drops what the retention policy drops, rewriting what follows.
 *
 * Every store operation of one versioner runs in turn (one queue), so its view of the latest
 * version is never read half-updated.
 */
import type { Logger } from 'pino'
import type { TextOp } from '../../shared/ot/op.ts'
import { deltaToOp } from '../../shared/ot/rebase.ts'
import type { RoomChangeLog, SequencedChange } from '../rooms/change-log.ts'
import type {
  NewVersion,
  VersionContent,
  VersionInfo,
  VersionKind,
  VersionStore,
} from '../store/history-store.ts'
import { StaleVersionBaseError } from '../store/version-checks.ts'
import { type RetentionPolicy, versionsToDrop } from './retention.ts'
import {
  composeAll,
  nextContent,
  opBytesSinceCheckpoint,
  rebuildTextSliced,
  rewriteForRemoval,
} from './version-chain.ts'

/** Timer functions (injectable for tests). */
export interface Timers {
  setTimeout(run: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realTimers: Timers = {
  setTimeout: (run, ms) => setTimeout(run, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

export interface VersionerOptions {
  room: string
  changes: RoomChangeLog
  store: VersionStore
  config: { historyQuietMs: number; historyMaxIntervalMs: number }
  /** The clock versions are stamped with (ms since the epoch). */
  now?: () => number
  timers?: Timers
  log: Logger
  /** Hears each version this versioner makes (not those `heard` from elsewhere): the bus. */
  announce?: (version: VersionInfo) => void
}

/** Hears each version this versioner makes or hears of. */
export type VersionListener = (version: VersionInfo) => void

/** Changes heard since the latest version: one per change, or several composed into one. */
interface PendingChanges {
  first: number
  last: number
  op: TextOp
  authors: string[]
}

/** Pending entries past this are composed into one (they stay exact, only coarser to slice). */
const MAX_PENDING = 512
/** Version texts kept in memory per room. */
const TEXT_CACHE = 4
/** Most versions one removal takes away (thinning removes in batches of them, a turn apart). */
const REMOVE_BATCH = 200

export class Versioner {
  /** The room's latest version as this versioner knows it, with the op bytes since its checkpoint. */
  private tip: { info: VersionInfo; opBytes: number } | null = null
  /** Every change with an id above `coveredFrom` up to `heardId`, oldest first. */
  private pending: PendingChanges[] = []
  private coveredFrom: number
  private heardId: number
  private queue: Promise<unknown>
  private quietTimer: unknown = null
  private maxTimer: unknown = null
  private closed = false
  private readonly listeners = new Set<VersionListener>()
  private readonly texts = new Map<number, string>()
  private readonly rebuilding = new Map<number, Promise<string | null>>()
  private readonly unsubscribe: () => void
  private readonly now: () => number
  private readonly timers: Timers

  constructor(private readonly options: VersionerOptions) {
    this.now = options.now ?? Date.now
    this.timers = options.timers ?? realTimers
    this.heardId = this.coveredFrom = options.changes.latestId
    this.unsubscribe = options.changes.subscribe((change) => this.hear(change))
    this.queue = this.learnLatest().then(
      () => {
        // Changes since the latest version that this process did not hear (a restart): from memory.
        if (this.tip && this.tip.info.changeId < this.coveredFrom) this.catchUp(this.tip.info.changeId)
        if (this.options.changes.latestId > (this.tip?.info.changeId ?? 0)) this.schedule()
      },
      (err) => this.options.log.error({ err, room: options.room }, 'reading the latest version failed'),
    )
  }

  /** The room's versions, oldest first. */
  list(): Promise<VersionInfo[]> {
    return this.options.store.listVersions(this.options.room)
  }

  /** Version `id`'s text (null: no such version), rebuilt from its chain or from the cache. */
  text(id: number): Promise<string | null> {
    const cached = this.texts.get(id)
    if (cached !== undefined) {
      this.cache(id, cached)
      return Promise.resolve(cached)
    }
    let running = this.rebuilding.get(id)
    if (!running) {
      running = this.options.store
        .versionChain(this.options.room, id)
        .then((chain) => (chain.length === 0 ? null : rebuildTextSliced(chain)))
        .then((text) => {
          if (text !== null) this.cache(id, text)
          return text
        })
        .finally(() => this.rebuilding.delete(id))
      this.rebuilding.set(id, running)
    }
    return running
  }

  /** A named version of the current text (a new one even when the text did not change). */
  name(name: string, by: string | null): Promise<VersionInfo> {
    return this.run(() => this.make('named', { name, by, restoredFrom: null })) as Promise<VersionInfo>
  }

  /** The version a restore made: of the current text, after the restore's change. */
  recordRestore(from: VersionInfo, by: string | null): Promise<VersionInfo> {
    const name = from.name !== null ? `Restored from "${from.name}"` : `Restored from version ${from.id}`
    return this.run(() => this.make('restore', { name, by, restoredFrom: from.id })) as Promise<VersionInfo>
  }

  /** Removes version `id` (false: there was none), rewriting the next one so its text stays. */
  remove(id: number): Promise<boolean> {
    return this.run(async () => {
      const list = await this.list()
      if (!list.some((version) => version.id === id)) return false
      await this.removeIds(list, [id])
      return true
    })
  }

  /** Drops what `policy` drops at `now` (retention.ts); resolves with how many went. */
  thin(policy: RetentionPolicy, now: number): Promise<number> {
    return this.run(async () => {
      const list = await this.list()
      const drop = versionsToDrop(list, policy, now)
      for (let i = 0; i < drop.length; i += REMOVE_BATCH) {
        await this.removeIds(i === 0 ? list : await this.list(), drop.slice(i, i + REMOVE_BATCH))
        await new Promise((resolve) => setImmediate(resolve))
      }
      return drop.length
    })
  }

  /** Resolves once everything queued so far (versions, removals, thinning) is done. */
  async settled(): Promise<void> {
    await this.queue
  }

  /** Hears each version made from now on, here or on another instance. Returns the unsubscribe. */
  onVersion(listener: VersionListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The room's versions standing at change `changeId` or later, oldest first, the latest `limit`. */
  async versionsSince(changeId: number, limit: number): Promise<VersionInfo[]> {
    const listed = await this.options.store.listVersions(this.options.room)
    const since = listed.filter((version) => version.changeId >= changeId)
    return since.slice(Math.max(0, since.length - limit))
  }

  /** Another instance made `version` of this room: its listeners hear it. */
  heard(version: VersionInfo): void {
    this.tell(version)
  }

  /** Stops listening; makes a last automatic version when changes came since the latest. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clearTimers()
    this.unsubscribe()
    await this.run(() => this.make('auto', null)).catch((err) =>
      this.options.log.error({ err, room: this.options.room }, 'the last version before unloading failed'),
    )
  }

  /** Runs `work` after everything queued before it. */
  private run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work)
    this.queue = result.catch(() => {})
    return result
  }

  private hear(change: SequencedChange): void {
    if (change.id <= this.heardId) return
    if (change.id !== this.heardId + 1) {
      // A change not heard: what the room remembers fills the gap, else the next version is whole.
      this.catchUp(this.heardId)
      if (change.id <= this.heardId) return
    }
    this.add(change)
    if (!this.closed) this.schedule()
  }

  private add(change: SequencedChange): void {
    if (change.id !== this.heardId + 1) {
      this.pending = []
      this.coveredFrom = change.id - 1
    }
    this.heardId = change.id
    if (change.delta.length === 0 && change.author === null) return
    this.pending.push({
      first: change.id,
      last: change.id,
      op: change.delta.length > 0 ? deltaToOp(change.delta) : [],
      authors: change.author === null ? [] : [change.author],
    })
    if (this.pending.length > MAX_PENDING) this.pending = [this.merged(this.pending)]
  }

  /** Takes the changes above `after` the room remembers; past its memory, starts afresh at its latest. */
  private catchUp(after: number): void {
    const changes = this.options.changes.since(after)
    if (changes === null) {
      this.pending = []
      this.heardId = this.coveredFrom = this.options.changes.latestId
      return
    }
    if (after < this.coveredFrom) {
      this.pending = []
      this.heardId = this.coveredFrom = after
    }
    for (const change of changes) if (change.id > this.heardId) this.add(change)
  }

  private merged(entries: readonly PendingChanges[]): PendingChanges {
    return {
      first: entries[0].first,
      last: entries.at(-1)!.last,
      op: composeAll(entries.map((entry) => entry.op)),
      authors: authorsOf(entries),
    }
  }

  private schedule(): void {
    const { historyQuietMs, historyMaxIntervalMs } = this.options.config
    if (this.quietTimer !== null) this.timers.clearTimeout(this.quietTimer)
    this.quietTimer = this.timers.setTimeout(() => this.automatic(), historyQuietMs)
    this.maxTimer ??= this.timers.setTimeout(() => this.automatic(), historyMaxIntervalMs)
  }

  private clearTimers(): void {
    if (this.quietTimer !== null) this.timers.clearTimeout(this.quietTimer)
    if (this.maxTimer !== null) this.timers.clearTimeout(this.maxTimer)
    this.quietTimer = this.maxTimer = null
  }

  private automatic(): void {
    this.clearTimers()
    if (this.closed) return
    this.run(() => this.make('auto', null)).catch((err) => {
      this.options.log.error({ err, room: this.options.room }, 'making a version failed; trying again later')
      if (!this.closed) this.schedule()
    })
  }

  /** Makes a version of the current text (an automatic one only when the text moved on). */
  private async make(
    kind: VersionKind,
    user: { name: string; by: string | null; restoredFrom: number | null } | null,
  ): Promise<VersionInfo | null> {
    const { changes, store, room } = this.options
    for (let attempt = 0; ; attempt++) {
      if (changes.latestId > this.heardId) this.catchUp(this.heardId)
      const changeId = changes.latestId
      if (kind === 'auto' && changeId <= (this.tip?.info.changeId ?? 0)) return null
      const since = this.tip?.info.changeId ?? 0
      const entries = this.pending.filter((entry) => entry.last > since)
      const known = this.tip !== null && since >= this.coveredFrom && entries.every((e) => e.first > since)
      const op = known ? composeAll(entries.map((entry) => entry.op)) : null
      // Changes that left the text as it was (other shared types) make no automatic version.
      if (kind === 'auto' && op !== null && op.length === 0) return null
      const tip = this.tip && { id: this.tip.info.id, opBytes: this.tip.opBytes }
      // The text is read (a copy of the whole document) only for a checkpoint; its UTF-16 length
      // is a lower bound of its UTF-8 bytes.
      const { content, opBytes } = nextContent(tip, op, { bytes: changes.length, read: () => changes.text() })
      const version: NewVersion = {
        at: this.now(),
        changeId,
        kind,
        name: user?.name ?? null,
        length: changes.length,
        // Without composing the ops again (a version's whole cost was that, with a 1 MiB paste pending).
        authors: authorsOf(entries),
        by: user?.by ?? null,
        restoredFrom: user?.restoredFrom ?? null,
      }
      try {
        // A whole text costs a copy here and an encoding and a write in the store: a turn apart.
        if ('text' in content) await new Promise((resolve) => setImmediate(resolve))
        const info = await store.addVersion(room, version, content)
        if (info === null) {
          await this.learnLatest()
          return null
        }
        this.made(info, opBytes, 'text' in content ? content.text : null)
        return info
      } catch (err) {
        if (!(err instanceof StaleVersionBaseError) || attempt >= 2) throw err
        await this.learnLatest()
      }
    }
  }

  private made(info: VersionInfo, opBytes: number, text: string | null): void {
    this.tip = { info, opBytes }
    this.forget(info.changeId)
    if (text !== null) this.cache(info.id, text)
    if (this.options.changes.latestId > info.changeId && !this.closed) this.schedule()
    else this.clearTimers()
    this.tell(info)
    try {
      this.options.announce?.(info)
    } catch (err) {
      this.options.log.error({ err, room: this.options.room }, 'announcing a version failed')
    }
  }

  private tell(info: VersionInfo): void {
    for (const listener of this.listeners) {
      try {
        listener(info)
      } catch (err) {
        this.options.log.error({ err, room: this.options.room }, 'a version listener threw')
      }
    }
  }

  /** Drops pending changes up to `changeId` (a version holds them). */
  private forget(changeId: number): void {
    if (changeId < this.coveredFrom) return
    if (this.pending.some((entry) => entry.first <= changeId && entry.last > changeId)) {
      // Composed across the version: the op since it cannot be cut out, so the next one is whole.
      this.pending = []
      this.coveredFrom = this.heardId
      return
    }
    this.pending = this.pending.filter((entry) => entry.last > changeId)
    this.coveredFrom = changeId
  }

  /** Reads the room's latest version and the op bytes since its checkpoint from the store. */
  private async learnLatest(): Promise<void> {
    const { store, room } = this.options
    const latest = (await store.listVersions(room)).at(-1)
    if (!latest) {
      this.tip = null
      return
    }
    const chain = await store.versionChain(room, latest.id)
    this.tip = { info: latest, opBytes: opBytesSinceCheckpoint(chain) }
    this.forget(latest.changeId)
  }

  /** Removes `ids` (of `list`, the room's versions now), with the rewrites the store checks. */
  private async removeIds(list: readonly VersionInfo[], ids: readonly number[]): Promise<void> {
    const { store, room } = this.options
    const removed = new Set(ids)
    const rewritten = new Map<number, VersionContent>()
    for (let i = 1; i < list.length; i++) {
      if (removed.has(list[i].id) || !removed.has(list[i - 1].id)) continue
      const content = await rewriteForRemoval(await store.versionChain(room, list[i].id), removed)
      if (content) rewritten.set(list[i].id, content)
    }
    await store.removeVersions(room, ids, rewritten)
    for (const id of ids) this.texts.delete(id)
    if (this.tip && removed.has(this.tip.info.id)) await this.learnLatest()
    else if (this.tip && rewritten.has(this.tip.info.id)) await this.learnLatest()
  }

  private cache(id: number, text: string): void {
    this.texts.delete(id)
    this.texts.set(id, text)
    if (this.texts.size > TEXT_CACHE) this.texts.delete(this.texts.keys().next().value!)
  }
}

/** The distinct authors of `entries`, first writer first. */
function authorsOf(entries: readonly PendingChanges[]): string[] {
  const authors = new Set<string>()
  for (const entry of entries) for (const author of entry.authors) authors.add(author)
  return [...authors]
}
