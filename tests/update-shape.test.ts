/**
 * The update shape reader against Yjs itself: for seeded random documents (ASCII, accented and
 * astral text, deletions, maps and arrays), the client ranges it reads from each update and from the
 * whole document's encoding are the ones Yjs ends up holding.
 */
import * as prng from 'lib0/prng'
import { expect } from 'vitest'
import * as Y from 'yjs'
import { readUpdateShape } from '../server/admission/update-shape.ts'
import { seededTest } from './helpers/seed.ts'

const LIMITS = { maxJsonDepth: 64 }
const ALPHABETS = ['abcdef ghij', 'éàü ßø', '😀🎉 x', '中文字']

/** Every client's end clock as the shape reader sees `update`. */
function shapeEnds(update: Uint8Array): Map<number, number> {
  const ends = new Map<number, number>()
  for (const block of readUpdateShape(update, LIMITS).blocks) ends.set(block.client, block.end)
  return ends
}

seededTest('shape ranges match Yjs for random text, map and array edits', (gen) => {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  const map = doc.getMap('m')
  const array = doc.getArray('a')
  const mirror = new Y.Doc()
  doc.on('update', (update: Uint8Array) => {
    const clients = Y.decodeUpdate(update).structs
    const ends = shapeEnds(update)
    for (const [client, end] of ends) {
      const last = clients.filter((s) => s.id.client === client).at(-1)!
      expect(end).toBe(last.id.clock + last.length)
    }
    expect(ends.size).toBe(new Set(clients.map((s) => s.id.client)).size)
    Y.applyUpdate(mirror, update)
  })
  for (let i = 0; i < 300; i++) {
    const alphabet = prng.oneOf(gen, ALPHABETS)
    const word = Array.from(
      { length: prng.uint32(gen, 1, 6) },
      () => Array.from(alphabet)[prng.uint32(gen, 0, Array.from(alphabet).length - 1)],
    ).join('')
    const op = prng.uint32(gen, 0, 9)
    if (op < 5) text.insert(prng.uint32(gen, 0, text.length), word)
    else if (op < 7 && text.length > 0) {
      const at = prng.uint32(gen, 0, text.length - 1)
      text.delete(at, Math.min(prng.uint32(gen, 1, 4), text.length - at))
    } else if (op < 8) map.set(word, { word, n: i })
    else array.insert(prng.uint32(gen, 0, array.length), [word, i])
  }
  const whole = Y.encodeStateAsUpdate(doc)
  const vector = Y.decodeStateVector(Y.encodeStateVector(doc))
  expect(shapeEnds(whole)).toEqual(vector)
  expect(mirror.getText('t').toString()).toBe(text.toString())
})
