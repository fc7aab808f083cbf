/**
 * A value that tells its listeners when it changes: the holder behind the client's status modules
 * (connection, "Saved", server storage, access). Listeners hear every change, in the order they
 * subscribed, and never the current value on subscribing (read `value` for that).
 */

/** One value and the listeners of its changes. */
export class ObservableState<T> {
  #value: T
  readonly #equals: (a: T, b: T) => boolean
  readonly #listeners = new Set<(value: T) => void>()

  /** `equals` decides what counts as a change (default `Object.is`: a new object always does). */
  constructor(initial: T, equals: (a: T, b: T) => boolean = Object.is) {
    this.#value = initial
    this.#equals = equals
  }

  get value(): T {
    return this.#value
  }

  /** Makes `next` the value and tells every listener, unless it equals the current one; true if it changed. */
  set(next: T): boolean {
    if (this.#equals(this.#value, next)) return false
    this.#value = next
    for (const listener of this.#listeners) listener(this.#value)
    return true
  }

  /** Calls `listener` with the value after each change; returns the unsubscribe. */
  subscribe(listener: (value: T) => void): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }
}
