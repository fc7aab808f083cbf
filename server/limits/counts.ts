/** Counts per key (connections per address, reservations per room) kept without zero entries. */

/** Adds one to `key`'s count. */
export function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

/** Takes one from `key`'s count, removing the key at zero. */
export function decrement<K>(counts: Map<K, number>, key: K): void {
  const left = (counts.get(key) ?? 1) - 1
  if (left > 0) counts.set(key, left)
  else counts.delete(key)
}
