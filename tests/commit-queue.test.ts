/**
 * The group commit (server/rooms/commit-queue.ts) on a real in-memory store: a batch's follow-ups
 * run once its updates are stored, in the order queued, and `afterFollowUps` (the server's uncork,
 * which sends the relays they queued in the same event-loop iteration) runs right after each
 * batch's follow-ups, before anything of the next iteration; a turn that goes on past MAX_BATCH_MS
 * commits what it appended so far without waiting for its end.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { CommitQueue, MAX_BATCH_MS } from '../server/rooms/commit-queue.ts'
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

  it('commits within a long turn: the first updates are relayed before the turn ends', async () => {
    const store = new MemoryStore()
    const seen: string[] = []
    const commits = new CommitQueue(store, pino({ level: 'silent' }), { retryMinMs: 10, retryMaxMs: 100 })
    /** One turn: appends `count` updates, each followed by its relay, busy for `ms` between them. */
    const turn = (count: number, ms: number) => {
      for (let i = 0; i < count; i++) {
        commits.append('room', new Uint8Array([0, 0]))
        commits.afterCommit(() => seen.push(`relay ${i}`))
        const until = performance.now() + ms
        while (performance.now() < until) {}
      }
    }
    // A short turn: everything waits for the turn's end (one batch).
    turn(3, 0)
    await Promise.resolve()
    expect(seen).toEqual([])
    await commits.drain()
    expect(seen).toEqual(['relay 0', 'relay 1', 'relay 2'])
    seen.length = 0
    // A long turn, its reads separated by microtask checkpoints as socket reads are: the append
    // past MAX_BATCH_MS commits the batch open since the first (with itself), and the relays queued
    // by then run before the next read; what comes after opens a new batch.
    commits.append('room', new Uint8Array([0, 0]))
    commits.afterCommit(() => seen.push('relay a'))
    const until = performance.now() + MAX_BATCH_MS + 1
    while (performance.now() < until) {}
    commits.append('room', new Uint8Array([0, 0]))
    commits.afterCommit(() => seen.push('relay b'))
    await Promise.resolve()
    await Promise.resolve()
    expect(seen).toEqual(['relay a', 'relay b'])
    commits.append('room', new Uint8Array([0, 0]))
    commits.afterCommit(() => seen.push('relay c'))
    await Promise.resolve()
    await Promise.resolve()
    expect(seen).toEqual(['relay a', 'relay b'])
    await commits.drain()
    expect(seen).toEqual(['relay a', 'relay b', 'relay c'])
    expect((await store.load('room')).updates.length).toBe(6)
  })
})
