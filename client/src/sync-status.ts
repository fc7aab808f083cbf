/**
 * Whether the server has durably stored this browser's changes, derived only from what the server
 * said: its `saved` state vector (sent after each durable commit) plus the clock ranges of updates it
 * relayed to us, which it necessarily held. Pure bookkeeping over state vectors, no I/O and no timers.
 *
 * A local change is recorded with the clocks it needs (`client -> end clock`); it is saved once the
 * server's known state vector reaches every one of them. `pending` counts changes not yet covered.
 */
import * as Y from 'yjs'
import { ObservableState } from './observable-state.ts'

/** A state vector as a map from Yjs client id to the next clock the server expects from it. */
export type StateVector = Map<number, number>

/** True when `known` has every clock that `required` needs. */
export function covers(known: StateVector, required: StateVector): boolean {
  for (const [client, clock] of required) if ((known.get(client) ?? 0) < clock) return false
  return true
}

/** Raises each client's clock in `target` to the one in `source` (never lowers it). */
export function mergeInto(target: StateVector, source: StateVector): boolean {
  let changed = false
  for (const [client, clock] of source) {
    if ((target.get(client) ?? 0) < clock) {
      target.set(client, clock)
      changed = true
    }
  }
  return changed
}

/** The end clock per client of the structs in a (V1) update; an update with only deletions gives {}. */
export const updateEndClocks = (update: Uint8Array): StateVector => Y.parseUpdateMeta(update).to

/** Serialises a state vector for storage (localStorage); `parseStateVector` reads it back. */
export const formatStateVector = (sv: StateVector): string => JSON.stringify([...sv])

/** Reads `formatStateVector` output; anything malformed gives an empty vector. */
export function parseStateVector(text: string | null): StateVector {
  if (!text) return new Map()
  try {
    const entries: unknown = JSON.parse(text)
    if (!Array.isArray(entries)) return new Map()
    const sv: StateVector = new Map()
    for (const entry of entries) {
      if (Array.isArray(entry) && Number.isSafeInteger(entry[0]) && Number.isSafeInteger(entry[1])) {
        sv.set(entry[0], entry[1])
      }
    }
    return sv
  } catch {
    return new Map()
  }
}

/** Snapshot handed to listeners. */
export interface SyncState {
  /** Local changes the server has not yet confirmed as durably stored. */
  pending: number
  /** True when `pending` is 0. */
  saved: boolean
  /** True once the server has sent at least one `saved` message (in this page's lifetime). */
  heardFromServer: boolean
}

/** Tracks local changes against the server's known state vector. */
export class SyncTracker {
  readonly #known: StateVector
  #pending: StateVector[] = []
  #heardFromServer = false
  // Each emit sets a fresh snapshot, which always counts as a change: every `saved` message is heard.
  readonly #state = new ObservableState<SyncState>({ pending: 0, saved: true, heardFromServer: false })

  /** `known` seeds what the server is already known to hold (e.g. remembered from a previous visit). */
  constructor(known: StateVector = new Map()) {
    this.#known = new Map(known)
  }

  /** Records one local change that is saved once the server holds all of `required`. */
  addLocalChange(required: StateVector): void {
    if (covers(this.#known, required)) return
    this.#pending.push(new Map(required))
    this.#emit()
  }

  /** The server said it durably stored everything up to `sv`. */
  serverSaved(sv: StateVector): void {
    this.#heardFromServer = true
    mergeInto(this.#known, sv)
    this.#settle()
    this.#emit()
  }

  /** The server relayed structs up to `endClocks`, so it holds them. */
  serverHas(endClocks: StateVector): void {
    if (mergeInto(this.#known, endClocks) && this.#settle()) this.#emit()
  }

  /** What the server is known to hold (a copy). */
  get known(): StateVector {
    return new Map(this.#known)
  }

  get state(): SyncState {
    return this.#state.value
  }

  /** Calls `listener` on every change of state; returns the unsubscribe function. */
  subscribe(listener: (state: SyncState) => void): () => void {
    return this.#state.subscribe(listener)
  }

  #settle(): boolean {
    const before = this.#pending.length
    this.#pending = this.#pending.filter((required) => !covers(this.#known, required))
    return this.#pending.length !== before
  }

  #emit(): void {
    this.#state.set({
      pending: this.#pending.length,
      saved: this.#pending.length === 0,
      heardFromServer: this.#heardFromServer,
    })
  }
}
