/**
 * A store that passes every call to another one: the base of the tests' store wrappers (fault
 * injection, gated loads), which override only what they change. DocStore's members are all
 * required, so a member added to the seam fails to compile here rather than vanishing in a wrapper.
 */
import type {
  ChangeRetention,
  ChangesRead,
  ChangesReadOptions,
  DocStore,
  LogEntry,
  Revocation,
  RevocationResult,
  SetAsideEntry,
  StoredPolicy,
  StoredRoom,
} from '../../server/index.ts'

/** Wraps `inner`; every member goes straight through. */
export class ForwardingStore implements DocStore {
  constructor(protected readonly inner: DocStore) {}

  get ready(): Promise<void> {
    return this.inner.ready
  }

  get versions(): DocStore['versions'] {
    return this.inner.versions
  }

  get authors(): DocStore['authors'] {
    return this.inner.authors
  }

  load(room: string): Promise<StoredRoom> {
    return this.inner.load(room)
  }

  append(entries: readonly LogEntry[]): Promise<number[]> {
    return this.inner.append(entries)
  }

  changesSince(
    room: string,
    after: number,
    limit: number,
    options?: ChangesReadOptions,
  ): Promise<ChangesRead> {
    return this.inner.changesSince(room, after, limit, options)
  }

  setChangeDelta(room: string, id: number, delta: string): Promise<void> {
    return this.inner.setChangeDelta(room, id, delta)
  }

  pruneChanges(room: string, retention: ChangeRetention, now: number): Promise<number> {
    return this.inner.pruneChanges(room, retention, now)
  }

  compact(room: string, snapshot?: Uint8Array): Promise<number> {
    return this.inner.compact(room, snapshot)
  }

  setAside(room: string, entries: readonly SetAsideEntry[]): Promise<void> {
    return this.inner.setAside(room, entries)
  }

  setAsideEntries(room: string): Promise<SetAsideEntry[]> {
    return this.inner.setAsideEntries(room)
  }

  loadPolicy(room: string, now: number): Promise<StoredPolicy | null> {
    return this.inner.loadPolicy(room, now)
  }

  saveMode(room: string, mode: StoredPolicy['mode']): Promise<void> {
    return this.inner.saveMode(room, mode)
  }

  addRevocation(room: string, revocation: Revocation, max: number, now: number): Promise<RevocationResult> {
    return this.inner.addRevocation(room, revocation, max, now)
  }

  pruneRevocations(now: number): Promise<number> {
    return this.inner.pruneRevocations(now)
  }

  ping(): Promise<void> {
    return this.inner.ping()
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
