/**
 * Which clocks of a document are deleted, per client, as sorted disjoint ranges: kept beside a
 * room's `Y.Doc` so that "is this range already deleted?" costs a binary search instead of a walk
 * over every struct in it (Yjs' own delete pass, and any check built on `findIndexSS`, visit each
 * struct of a range, deleted or not: an 11-byte update re-deleting a million deleted structs
 * costs ~20 ms each time it is sent).
 *
 * Built once from the document's structs, then kept current from each transaction's delete set
 * (`afterTransaction`), which names every struct a transaction deleted, however it was applied.
 */
import type * as Y from 'yjs'

interface ClientRanges {
  /** Range starts, ascending. */
  starts: number[]
  /** Range ends (exclusive), ascending; `ends[i] < starts[i + 1]` (adjacent ranges are merged). */
  ends: number[]
}

export class DeletedIndex {
  private readonly clients = new Map<number, ClientRanges>()

  constructor(private readonly doc: Y.Doc) {
    for (const [client, structs] of doc.store.clients) {
      for (const struct of structs) {
        if (struct.deleted) this.add(client, struct.id.clock, struct.id.clock + struct.length)
      }
    }
    doc.on('afterTransaction', this.onTransaction)
  }

  /** Stops following the document. */
  destroy(): void {
    this.doc.off('afterTransaction', this.onTransaction)
  }

  /** Deleted ranges held for `client` (for tests and metrics). */
  rangeCount(client: number): number {
    return this.clients.get(client)?.starts.length ?? 0
  }

  /**
   * Calls `gap(start, end)` for each part of [clock, end) that is not deleted, in order, and
   * returns how many index ranges it looked at (the work, for the caller's price). Stops early,
   * returning what it visited so far, once that passes `budget`.
   */
  forEachLive(
    client: number,
    clock: number,
    end: number,
    gap: (start: number, end: number) => void,
    budget = Number.POSITIVE_INFINITY,
  ): number {
    const ranges = this.clients.get(client)
    if (!ranges) {
      gap(clock, end)
      return 0
    }
    const { starts, ends } = ranges
    let i = firstEndAfter(ends, clock)
    let at = clock
    let visited = 0
    while (at < end && i < starts.length && starts[i] < end) {
      if (starts[i] > at) gap(at, starts[i])
      at = Math.max(at, ends[i])
      i++
      if (++visited > budget) return visited
    }
    if (at < end) gap(at, end)
    return visited
  }

  /** True when every clock of [clock, end) of `client` is deleted. */
  covers(client: number, clock: number, end: number): boolean {
    const ranges = this.clients.get(client)
    if (!ranges) return false
    const i = firstEndAfter(ranges.ends, clock)
    return i < ranges.starts.length && ranges.starts[i] <= clock && ranges.ends[i] >= end
  }

  private readonly onTransaction = (transaction: Y.Transaction): void => {
    for (const [client, items] of transaction.deleteSet.clients) {
      for (const item of items) this.add(client, item.clock, item.clock + item.len)
    }
  }

  /** Marks [start, end) of `client` deleted, merging with overlapping or adjacent ranges. */
  private add(client: number, start: number, end: number): void {
    if (end <= start) return
    let ranges = this.clients.get(client)
    if (!ranges) {
      ranges = { starts: [], ends: [] }
      this.clients.set(client, ranges)
    }
    const { starts, ends } = ranges
    const last = starts.length - 1
    // Structs are mostly visited and deleted in clock order: extend or append at the end cheaply.
    if (last < 0 || start > ends[last]) {
      starts.push(start)
      ends.push(end)
      return
    }
    if (start >= starts[last]) {
      ends[last] = Math.max(ends[last], end)
      return
    }
    // First range that ends at or after `start` (touching counts), and first that starts past `end`.
    const from = firstEndAfter(ends, start - 1)
    let to = from
    while (to < starts.length && starts[to] <= end) to++
    if (from === to) {
      starts.splice(from, 0, start)
      ends.splice(from, 0, end)
      return
    }
    const mergedStart = Math.min(start, starts[from])
    const mergedEnd = Math.max(end, ends[to - 1])
    starts.splice(from, to - from, mergedStart)
    ends.splice(from, to - from, mergedEnd)
  }
}

/** Index of the first range whose end is past `clock` (binary search over ascending `ends`). */
function firstEndAfter(ends: number[], clock: number): number {
  let low = 0
  let high = ends.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (ends[mid] <= clock) low = mid + 1
    else high = mid
  }
  return low
}
