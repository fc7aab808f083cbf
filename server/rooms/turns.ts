/**
 * One slice of large work per event-loop turn, process-wide. Work too costly for one turn (an
 * update applied in slices, a big room loaded in slices) waits here between slices; each turn's
 * check phase releases exactly one waiter, in arrival order, so several such jobs take turns
 * instead of adding up within one (a turn never holds more than one slice of them).
 */

const waiting: Array<() => void> = []
let scheduled = false

function releaseOne(): void {
  scheduled = false
  const next = waiting.shift()
  if (waiting.length > 0) schedule()
  next?.()
}

function schedule(): void {
  if (scheduled) return
  scheduled = true
  setImmediate(releaseOne)
}

/** Resolves in a later turn of the event loop, after pending I/O, when this caller's turn comes. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve)
    schedule()
  })
}
