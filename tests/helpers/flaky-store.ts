/**
 * Fault injection for the relay's storage seam: a real store wrapped so that `append` throws while
 * `failing` is set (as a full disk or a broken database would) or takes `delayMs` per call.
 */
import type { DocStore, LogEntry, SetAsideEntry } from '../../server/index.ts'

/** Wraps `inner`; every method but a failing or delayed `append` goes straight through. */
export class FlakyStore implements DocStore {
  /** While true, `append` rejects without writing anything. */
  failing = false
  /** Extra time each successful `append` takes. */
  delayMs = 0
  /** How many `append` calls were rejected. */
  failedAttempts = 0
  /** Every entry appended successfully, in order. */
  appended: LogEntry[] = []

  constructor(private readonly inner: DocStore) {}

  load(room: string) {
    return this.inner.load(room)
  }

  async append(entries: readonly LogEntry[]) {
    if (this.failing) {
      this.failedAttempts++
      throw new Error('disk I/O error (injected)')
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs))
    await this.inner.append(entries)
    this.appended.push(...entries)
  }

  compact(room: string, snapshot?: Uint8Array) {
    return this.inner.compact(room, snapshot)
  }

  setAside(room: string, entries: readonly SetAsideEntry[]) {
    return this.inner.setAside(room, entries)
  }

  setAsideEntries(room: string) {
    return this.inner.setAsideEntries(room)
  }

  close() {
    return this.inner.close()
  }
}
