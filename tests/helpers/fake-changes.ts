/**
 * A room's change log without a room (RoomChangeLog, server/rooms/change-log.ts), for history
 * tests: `commit` applies an op to the text as a numbered change and tells the listeners; it keeps
 * the last `keep` changes for `since`. Plus timers and a clock the test moves by hand.
 */

import type { Timers } from '../../server/history/versioner.ts'
import type { ChangeListener, RoomChangeLog, SequencedChange } from '../../server/rooms/change-log.ts'
import { apply } from '../../shared/ot/apply.ts'
import type { TextOp } from '../../shared/ot/op.ts'
import { opToDelta } from '../../shared/ot/rebase.ts'

export class FakeChanges implements RoomChangeLog {
  latestId = 0
  latestAt: number | null = null
  private current = ''
  private readonly kept: SequencedChange[] = []
  private readonly listeners = new Set<ChangeListener>()

  constructor(
    private readonly clock: () => number,
    private readonly keep = 1_000,
  ) {}

  /** Commits `op` (by `author`) as the next change; heard by listeners unless `silent`. */
  commit(op: TextOp, author: string | null = null, silent = false): SequencedChange {
    this.current = apply(this.current, op)
    const change: SequencedChange = {
      id: ++this.latestId,
      at: this.clock(),
      author,
      delta: opToDelta(op) as SequencedChange['delta'],
    }
    this.latestAt = change.at
    this.kept.push(change)
    if (this.kept.length > this.keep) this.kept.shift()
    if (!silent) for (const listener of this.listeners) listener(change)
    return change
  }

  /** Forgets the changes kept so far (a restart whose memory does not reach back). */
  forget(): void {
    this.kept.length = 0
  }

  text(): string {
    return this.current
  }

  get length(): number {
    return this.current.length
  }

  since(after: number): readonly SequencedChange[] | null {
    if (after >= this.latestId) return []
    const oldest = this.kept[0]?.id ?? this.latestId + 1
    return after + 1 < oldest ? null : this.kept.filter((change) => change.id > after)
  }

  pending() {
    return []
  }

  unitsAt(indexes: readonly number[]): number[] {
    return indexes.map((i) => this.current.charCodeAt(i))
  }

  subscribe(listener: ChangeListener): () => void {
    const entry: ChangeListener = (change) => listener(change)
    this.listeners.add(entry)
    return () => this.listeners.delete(entry)
  }
}

/** A clock and timers moved by `advance`. */
export class ManualClock implements Timers {
  time = Date.UTC(2026, 0, 1)
  private next = 1
  private readonly due = new Map<number, { at: number; run: () => void }>()

  readonly now = (): number => this.time

  setTimeout(run: () => void, ms: number): unknown {
    const handle = this.next++
    this.due.set(handle, { at: this.time + ms, run })
    return handle
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number)
  }

  /** Moves the clock by `ms`, running each timer due on the way at its time. */
  advance(ms: number): void {
    const end = this.time + ms
    for (;;) {
      let first: [number, { at: number; run: () => void }] | null = null
      for (const entry of this.due)
        if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry
      if (!first) break
      this.due.delete(first[0])
      this.time = Math.max(this.time, first[1].at)
      first[1].run()
    }
    this.time = end
  }

  /** Timers waiting. */
  get waiting(): number {
    return this.due.size
  }
}
