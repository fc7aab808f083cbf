/**
 * Costly HTTP reads pay for the text they walk from their address's text-walk budget
 * (limits/text-walk.ts, http/write-gate.ts `readBudget`), as writes do: repeating `GET …/authors`
 * on a long text gets 429 `rate_limited` once the burst is spent, while the same reads of a short
 * text never do. Real server on port 0, SQLite in a temp dir, fetch as the client.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanupAfterEach, tracked } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const { start } = tracked(cleanups)

/** Items of the long text (each inserted at the front, so none merge). */
const ITEMS = 100_000
/**
 * Reads made: 200 walks of 100,000 items are 20,000,000 items, several times the 4,000,000-item
 * burst plus what refills at 1,000,000 a second while they are answered, even on a slow machine.
 */
const READS = 200

async function postUpdate(port: number, room: string, update: Uint8Array) {
  const response = await fetch(`http://127.0.0.1:${port}/api/rooms/${room}/update`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(update),
  })
  expect(response.status).toBe(200)
}

/** A room holding a text of `items` one-unit items. */
async function roomOf(port: number, room: string, items: number) {
  const doc = new Y.Doc()
  const text = doc.getText('codemirror')
  doc.transact(() => {
    for (let i = 0; i < items; i++) text.insert(0, 'x')
  })
  await postUpdate(port, room, Y.encodeStateAsUpdate(doc))
}

/** Reads `…/authors` READS times; the first refusal, or null. */
async function readAuthors(port: number, room: string) {
  for (let i = 0; i < READS; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/api/rooms/${room}/authors`)
    const json = (await response.json()) as Record<string, unknown>
    if (response.status !== 200) return { read: i, status: response.status, json }
  }
  return null
}

describe('costly reads and the text walk budget', () => {
  it('…/authors of a long text is refused with 429 once the address has walked its burst', async () => {
    const server = await start()
    await roomOf(server.port, 'long', ITEMS)
    const refused = await readAuthors(server.port, 'long')
    expect(refused).toMatchObject({ status: 429, json: { code: 'rate_limited' } })
    expect(String(refused?.json.error)).toMatch(/text items walked/)
    // The burst (4,000,000 items) is at least 40 reads of this text.
    expect(refused!.read).toBeGreaterThanOrEqual(40)
  })

  it('…/authors of a short text is never refused', async () => {
    const server = await start()
    await roomOf(server.port, 'short', 100)
    expect(await readAuthors(server.port, 'short')).toBeNull()
  })
})
