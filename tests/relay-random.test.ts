/**
 * Seeded randomized convergence through the real relay: several stock clients make random inserts
 * and deletes while randomly dropping and regaining their connection; in the end every client and
 * a fresh joiner hold the same text. A failure prints its seed and replay command (helpers/seed.ts).
 */
import * as prng from 'lib0/prng'
import { afterEach, describe, expect } from 'vitest'
import {
  connectClient,
  converged,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'
import { SEED, seededTest, seedGiven } from './helpers/seed.ts'

// Two fixed seeds that always run, and a fresh one each run.
const seeds = seedGiven ? [SEED] : [1, 2, SEED]

let server: TestServer | null = null
let clients: TestClient[] = []
afterEach(async () => {
  for (const client of clients) client.destroy()
  clients = []
  await server?.close()
  server = null
})

async function runScenario(gen: prng.PRNG, seed: number): Promise<void> {
  server = await startServer({ compactAfterUpdates: 50 })
  const room = `fuzz-${seed}`
  const K = 4
  for (let i = 0; i < K; i++) clients.push(connectClient(server.url, room))
  await Promise.all(clients.map(synced))
  let inserted = 0
  for (let step = 0; step < 300; step++) {
    const client = prng.oneOf(gen, clients)
    const roll = prng.real53(gen)
    if (roll < 0.06) {
      if (client.provider.shouldConnect) client.provider.disconnect()
      else client.provider.connect()
    } else if (roll < 0.7 || client.text.length === 0) {
      const index = prng.uint32(gen, 0, client.text.length)
      const content = prng.word(gen, 1, 4)
      inserted += content.length
      client.text.insert(index, content)
    } else {
      const index = prng.uint32(gen, 0, client.text.length - 1)
      const length = prng.uint32(gen, 1, Math.min(3, client.text.length - index))
      client.text.delete(index, length)
    }
    if (prng.bool(gen)) await new Promise((resolve) => setImmediate(resolve))
  }
  for (const client of clients) if (!client.provider.shouldConnect) client.provider.connect()
  const text = await converged(clients, `all ${K} clients to converge (seed ${seed})`)
  expect(inserted).toBeGreaterThan(0)
  const fresh = connectClient(server.url, room)
  clients.push(fresh)
  await synced(fresh)
  await waitFor(
    () => fresh.text.toString() === text,
    `a fresh joiner to load the converged text (seed ${seed})`,
  )
}

describe('randomized convergence through the relay', () => {
  for (const seed of seeds) seededTest(`converges with seed ${seed}`, runScenario, { seeds: [seed] })
})
