/**
 * HTTP writes pay for the text items the room's text deltas walk on their behalf
 * (rooms/text-deltas.ts; the budget in limits/text-walk.ts), as a socket's updates do: updates
 * changing both ends of a long text get 429 `rate_limited` once an address has walked its burst,
 * while the same number of edits typed at one place, or made at random places, never does. Real
 * server on port 0, SQLite in a temp dir, fetch as the client; seeded.
 */
import * as prng from 'lib0/prng'
import { describe, expect } from 'vitest'
import * as Y from 'yjs'
import { cleanupAfterEach, tracked } from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'

const cleanups = cleanupAfterEach()
const { start } = tracked(cleanups)

/** Units (and items: each inserted at the front, so none merge) of the long text. */
const ITEMS = 100_000
/**
 * Edits each pattern makes. An update changing both ends walks the whole text (~100,000 items,
 * 2-5 ms): 600 of them walk some 60,000,000 items, several times the 4,000,000-item burst plus
 * what refills at 1,000,000 a second while 600 requests are answered, even on a slow machine.
 */
const EDITS = 600

async function post(port: number, path: string, body: Uint8Array | object) {
  const bytes = body instanceof Uint8Array
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': bytes ? 'application/octet-stream' : 'application/json' },
    body: bytes ? new Uint8Array(body) : JSON.stringify(body),
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

/** A room holding a text of ITEMS one-unit items; the document that wrote it. */
async function longTextRoom(port: number, room: string): Promise<Y.Doc> {
  const doc = new Y.Doc()
  const text = doc.getText('codemirror')
  doc.transact(() => {
    for (let i = 0; i < ITEMS; i++) text.insert(0, 'x')
  })
  expect((await post(port, `/api/rooms/${room}/update`, Y.encodeStateAsUpdate(doc))).status).toBe(200)
  return doc
}

/** Makes EDITS one-character text edits at `at(i)`; the first refusal, or null. */
async function edit(port: number, room: string, at: (i: number) => number) {
  for (let i = 0; i < EDITS; i++) {
    const answer = await post(port, `/api/rooms/${room}/text`, { index: at(i), insert: 'y' })
    if (answer.status !== 200) return { edit: i, ...answer }
  }
  return null
}

/** Message and byte limits far above what the test sends: only the walk budget can refuse. */
const generous = {
  documentMessagesPerSecond: 100_000,
  documentMessageBurst: 100_000,
  documentBytesPerSecond: 1e9,
}

describe('HTTP writes and the text walk budget', () => {
  seededTest(
    'updates changing both ends of a long text are refused with 429 once the burst is walked',
    async () => {
      const server = await start(generous)
      const doc = await longTextRoom(server.port, 'far')
      const text = doc.getText('codemirror')
      let refused: Awaited<ReturnType<typeof post>> | null = null
      for (let i = 0; i < EDITS && !refused; i++) {
        const before = Y.encodeStateVector(doc)
        doc.transact(() => {
          text.insert(0, 'y')
          text.insert(text.length, 'y')
        })
        const answer = await post(server.port, '/api/rooms/far/update', Y.encodeStateAsUpdate(doc, before))
        if (answer.status !== 200) refused = answer
      }
      expect(refused).toMatchObject({ status: 429, json: { code: 'rate_limited' } })
      expect(String(refused?.json.error)).toMatch(/text items walked/)
    },
  )

  seededTest(
    'edits at random places in the same text are not refused (each walks a stretch between places edited last)',
    async (gen) => {
      const server = await start(generous)
      await longTextRoom(server.port, 'random')
      expect(await edit(server.port, 'random', () => prng.uint32(gen, 0, ITEMS))).toBeNull()
    },
  )

  seededTest('typing at one place in the same text is never refused', async (gen) => {
    const server = await start(generous)
    await longTextRoom(server.port, 'near')
    const place = prng.uint32(gen, 0, ITEMS)
    expect(await edit(server.port, 'near', (i) => place + i)).toBeNull()
  })
})
