/**
 * Fault injection for the relay's storage seam: a real store wrapped so that `append` throws while
 * `failing` is set (as a full disk or a broken database would) or takes `delayMs` per call.
 */
import type { LogEntry } from '../../server/index.ts'
import { ForwardingStore } from './forwarding-store.ts'

/** Wraps a store; every member but a failing or delayed `append` goes straight through. */
export class FlakyStore extends ForwardingStore {
  /** While true, `append` rejects without writing anything. */
  failing = false
  /** Extra time each successful `append` takes. */
  delayMs = 0
  /** How many `append` calls were rejected. */
  failedAttempts = 0
  /** Every entry appended successfully, in order. */
  appended: LogEntry[] = []

  override async append(entries: readonly LogEntry[]): Promise<number[]> {
    if (this.failing) {
      this.failedAttempts++
      throw new Error('disk I/O error (injected)')
    }
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs))
    const ids = await this.inner.append(entries)
    this.appended.push(...entries)
    return ids
  }
}
