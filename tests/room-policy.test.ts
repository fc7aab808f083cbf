/**
 * Room policies and their store (issue #19, class 4 and the policy cache): a revocation costs the
 * store the same whatever the room already holds (one row, not a rewrite of the whole list), and the
 * in-memory copy of policies stays bounded in count and forgets rooms nobody asked about lately.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { RoomPolicies } from '../server/auth/room-policy.ts'
import { MemoryStore, SqliteStore } from '../server/index.ts'
import { cleanupAfterEach, makeTempDir } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()

describe('room policies', () => {
  it('a revocation writes about as much to SQLite for the 1,000th token id as for the 1st', async () => {
    const { dir, cleanup } = makeTempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'policy.db')
    const store = new SqliteStore(path)
    cleanups.push(() => store.close())
    // The WAL then only grows: its size is what every commit wrote.
    store.db.pragma('wal_autocheckpoint = 0')
    const policies = new RoomPolicies(store)
    const walBytes = () => statSync(`${path}-wal`).size
    const until = Date.now() + 3_600_000
    const revokeRange = async (from: number, to: number) => {
      const before = walBytes()
      for (let i = from; i < to; i++) await policies.revoke('flood', `token-id-${i}`, until)
      return walBytes() - before
    }
    await policies.revoke('flood', 'first', until)
    const early = await revokeRange(0, 100)
    await revokeRange(100, 899)
    const late = await revokeRange(899, 999)
    expect(late).toBeLessThan(early * 2)
    // A few pages per revocation at most, whatever the room holds.
    expect(late / 100).toBeLessThan(3 * 4096 + 100)
    expect(await policies.isRevoked('flood', 'token-id-998')).toBe(true)
  })

  it('keeps a bounded number of policies in memory and forgets idle ones', async () => {
    let now = 1_000_000
    const store = new MemoryStore()
    const policies = new RoomPolicies(store, {
      now: () => now,
      maxCachedPolicies: 10,
      policyIdleMs: 60_000,
    })
    for (let i = 0; i < 100; i++) await policies.mode(`room-${i}`)
    expect(policies.cachedCount).toBeLessThanOrEqual(10)
    now += 120_000
    await policies.mode('fresh')
    expect(policies.cachedCount).toBe(1)
    // Forgetting is only forgetting: what the store holds is read again.
    await policies.setMode('fresh', 'view')
    now += 120_000
    await policies.mode('another')
    expect(await policies.mode('fresh')).toBe('view')
  })
})
