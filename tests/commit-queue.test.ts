/**
 * The group commit (server/rooms/commit-queue.ts) on a real in-memory store: a batch's follow-ups
 * run once its updates are stored, in the order queued, and `afterFollowUps` (the server's uncork,
 * which sends the relays they queued in the same event-loop iteration) runs right after each
 * batch's follow-ups, before anything of the next iteration.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { CommitQueue } from '../server/rooms/commit-queue.ts'
import { MemoryStore } from '../server/store/memory-store.ts'

describe('CommitQueue', () => {
  it('runs follow-ups after the append, then afterFollowUps, within the iteration', async () => {
    const store = new MemoryStore()
    const seen: string[] = []
    const commits = new CommitQueue(store, pino({ level: 'silent' }), {
      retryMinMs: 10,
      retryMaxMs: 100,
      afterFollowUps: () => seen.push('flush'),
    })
    commits.append('room', new Uint8Array([0, 0]))
    let stored = -1
    commits.afterCommit(() => {
      seen.push('relay 1')
      void store.load('room').then((room) => {
        stored = room.updates.length
      })
    })
    commits.afterCommit(() => seen.push('relay 2'))
    // Something the next iteration runs: the flush must come before it.
    setImmediate(() => setImmediate(() => seen.push('next iteration')))
    await commits.drain()
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)))
    expect(seen).toEqual(['relay 1', 'relay 2', 'flush', 'next iteration'])
    expect(stored).toBe(1)
  })
})
