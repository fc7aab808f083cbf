/**
 * `npx tsx bench/text-deltas.ts`: what the room's text deltas (server/rooms/text-deltas.ts) cost
 * per update on a room-sized text (--items N single-unit items that do not merge, default 150,000),
 * for typing at one place, for single-unit edits alternating at the two ends (two people typing),
 * cycling through 9 places (one more than the markers kept) and at random places (seeded). Reports, per pattern, the median µs per update applied
 * with the deltas followed, without them (Yjs alone), and the items the deltas walked per update.
 * Flags: --items N, --updates N (default 400 per pattern).
 */
import { parseArgs } from 'node:util'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { itemsWalked, TextDeltas } from '../server/rooms/text-deltas.ts'

const { values } = parseArgs({
  options: { items: { type: 'string', default: '150000' }, updates: { type: 'string', default: '400' } },
})
const ITEMS = Number(values.items)
const UPDATES = Number(values.updates)

/** A text of `ITEMS` one-unit items: inserted back to front, so no two merge. */
function bigText(): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = 1
  const text = doc.getText(ROOM_TEXT)
  doc.transact(() => {
    for (let i = 0; i < ITEMS; i++) text.insert(0, String.fromCharCode(97 + (i % 26)))
  })
  return Y.encodeStateAsUpdate(doc)
}

type Pattern = (text: Y.Text, i: number, gen: prng.PRNG) => void
const patterns: Record<string, Pattern> = {
  'typing at one place': (text, i) => text.insert(ITEMS / 2 + i, 'x'),
  'alternating ends': (text, i) => text.insert(i % 2 === 0 ? 0 : text.length, 'x'),
  'cycling 9 places': (text, i) => text.insert(Math.floor(((i % 9) * text.length) / 9), 'x'),
  'random far apart (seeded)': (text, _i, gen) => text.insert(prng.uint32(gen, 0, text.length), 'x'),
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function run(base: Uint8Array, pattern: Pattern, follow: boolean) {
  const room = new Y.Doc()
  Y.applyUpdate(room, base)
  const deltas = new TextDeltas(room, ROOM_TEXT)
  if (follow) room.on('afterTransaction', (t: Y.Transaction) => deltas.of(t))
  const sender = new Y.Doc()
  sender.clientID = 2
  Y.applyUpdate(sender, base)
  const updates: Uint8Array[] = []
  sender.on('update', (u: Uint8Array) => updates.push(u))
  const gen = prng.create(42)
  const text = sender.getText(ROOM_TEXT)
  for (let i = 0; i < UPDATES; i++) pattern(text, i, gen)
  const times: number[] = []
  const walked: number[] = []
  for (const update of updates) {
    const steps = itemsWalked()
    const start = performance.now()
    Y.applyUpdate(room, update)
    times.push((performance.now() - start) * 1000)
    walked.push(itemsWalked() - steps)
  }
  return { us: median(times), walked: median(walked) }
}

const base = bigText()
console.log(`${ITEMS} items, ${UPDATES} updates per pattern (median per update)`)
for (const [name, pattern] of Object.entries(patterns)) {
  run(base, pattern, true) // warm-up
  const followed = run(base, pattern, true)
  const plain = run(base, pattern, false)
  console.log(
    `${name.padEnd(28)} with deltas ${followed.us.toFixed(1).padStart(8)} µs  Yjs alone ${plain.us.toFixed(1).padStart(6)} µs  items walked ${followed.walked}`,
  )
}
