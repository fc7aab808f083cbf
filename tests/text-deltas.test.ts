/**
 * The room's text deltas (server/rooms/text-deltas.ts), computed from a marker instead of Yjs'
 * whole-text walk: for seeded random edits by several Yjs documents that sync in random batches
 * (local typing, remote updates, merges of many at once, astral and combining characters), the
 * delta of every transaction on the observed document turns the text before it into the text after
 * it (also where Yjs writes U+FFFD over the halves of a surrogate pair an edit split), and agrees
 * with `Y.YTextEvent.delta` (Yjs' own) wherever that one is right.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ROOM_TEXT, type TextDelta } from '../server/rooms/change-log.ts'
import { applyDelta, OBJECT_UNIT, roomText, TextDeltas } from '../server/rooms/text-deltas.ts'
import { seededTest } from './helpers/seed.ts'

const PIECES = ['a', 'bc', 'xyz ', '😀', 'e\u0301', '\n', '𝔘𝔫𝔦', 'long piece of text ']

/**
 * Follows `doc` with a TextDeltas, noting each transaction whose delta does not turn the text before
 * it into the text after it, or differs from Yjs' own where Yjs' is right (Yjs' misses the U+FFFD
 * it writes over both halves of a surrogate pair it splits). Noted, not thrown: a throw inside a
 * Yjs event handler would break the document's transaction cleanup.
 */
function observe(doc: Y.Doc) {
  const deltas = new TextDeltas(doc, ROOM_TEXT)
  let before = roomText(doc.share.get(ROOM_TEXT))
  let checked = 0
  const wrong: unknown[] = []
  doc.on('afterTransaction', (transaction: Y.Transaction) => {
    const delta = deltas.of(transaction) ?? []
    const after = roomText(doc.share.get(ROOM_TEXT))
    if (applyDelta(before, delta) !== after) wrong.push(JSON.stringify({ before, after, delta }))
    const text = doc.share.get(ROOM_TEXT)
    const changed = text && transaction.changed.get(text)
    if (changed) {
      const yjs = new Y.YTextEvent(text as unknown as Y.Text, transaction, changed).delta as TextDelta
      const yjsRight = yjs.every(
        (run) => !('attributes' in run) && (!('insert' in run) || typeof run.insert === 'string'),
      )
      // Where a split met a U+FFFD already there, ours rewrites it (the same text, one run more).
      const rewrites = delta.some((run) => 'insert' in run && run.insert.includes('\uFFFD'))
      const comparable = yjsRight && !rewrites && applyDelta(before, yjs) === after
      if (comparable && JSON.stringify(yjs) !== JSON.stringify(delta)) {
        wrong.push(JSON.stringify({ delta, yjs }))
      }
    }
    before = after
    checked++
  })
  return { checked: () => checked, wrong }
}

describe('text deltas', () => {
  seededTest('turn the text before each transaction into the text after it, as Yjs says', (gen) => {
    const observed = new Y.Doc()
    const writers = [new Y.Doc(), new Y.Doc(), new Y.Doc()]
    // Fixed client ids: Yjs orders concurrent inserts by them, so a seed replays exactly.
    for (const [i, doc] of writers.entries()) doc.clientID = i + 1
    const watch = observe(observed)
    // Each writer's updates since it last synced, delivered in random batches.
    const outbox = writers.map(() => [] as Uint8Array[])
    for (const [i, doc] of writers.entries()) doc.on('update', (update: Uint8Array) => outbox[i].push(update))
    for (let step = 0; step < 600; step++) {
      const i = prng.uint32(gen, 0, writers.length - 1)
      const writer = writers[i]
      const text = writer.getText(ROOM_TEXT)
      const roll = prng.real53(gen)
      if (roll < 0.55 || text.length === 0) {
        text.insert(insertPoint(gen, text), prng.oneOf(gen, PIECES))
      } else if (roll < 0.8) {
        const at = prng.uint32(gen, 0, text.length - 1)
        text.delete(at, Math.min(text.length - at, prng.uint32(gen, 1, 6)))
      } else if (roll < 0.9) {
        // Several edits in one transaction, far apart.
        writer.transact(() => {
          text.insert(0, prng.oneOf(gen, PIECES))
          text.insert(insertPoint(gen, text), prng.oneOf(gen, PIECES))
          if (text.length > 3) text.delete(text.length - 2, 1)
        })
      } else {
        // Deliver some of this writer's updates: one by one or merged.
        const batch = outbox[i].splice(0, prng.uint32(gen, 1, outbox[i].length || 1))
        if (batch.length === 0) continue
        if (prng.bool(gen)) for (const update of batch) Y.applyUpdate(observed, update)
        else Y.applyUpdate(observed, Y.mergeUpdates(batch))
        // Writers catch up with each other now and then.
        if (prng.real53(gen) < 0.3) {
          const other = writers[(i + 1) % writers.length]
          Y.applyUpdate(other, Y.encodeStateAsUpdate(writer, Y.encodeStateVector(other)))
        }
      }
    }
    for (const updates of outbox) Y.applyUpdate(observed, Y.mergeUpdates(updates))
    for (const writer of writers) Y.applyUpdate(writer, Y.encodeStateAsUpdate(observed))
    expect(roomText(observed.share.get(ROOM_TEXT))).toBe(writers[0].getText(ROOM_TEXT).toString())
    expect(watch.wrong).toEqual([])
    expect(watch.checked()).toBeGreaterThan(100)
  })

  it('count an embed (or another kind written to the same root) as one unit each, read as U+FFFC', () => {
    const doc = new Y.Doc()
    const watch = observe(doc)
    const text = doc.getText(ROOM_TEXT)
    text.insert(0, 'ab')
    text.insertEmbed(1, { image: 'x' })
    text.format(0, 2, { bold: true })
    text.insert(3, 'c')
    expect(roomText(text)).toBe(`a${OBJECT_UNIT}bc`)
    expect(roomText(text).length).toBe(text.length)
    text.delete(1, 1)
    expect(roomText(text)).toBe('abc')
    expect(watch.wrong).toEqual([])
  })

  it('a transaction on other types has no delta', () => {
    const doc = new Y.Doc()
    const deltas = new TextDeltas(doc, ROOM_TEXT)
    const seen: Array<unknown> = []
    doc.on('afterTransaction', (transaction: Y.Transaction) => seen.push(deltas.of(transaction)))
    doc.getMap('meta').set('title', 'x')
    doc.getText(ROOM_TEXT).insert(0, 'hi')
    doc.getText(ROOM_TEXT).format(0, 1, { bold: true })
    expect(seen).toEqual([null, [{ insert: 'hi' }], null])
  })
})

/** An insert position, not inside a surrogate pair. */
function insertPoint(gen: prng.PRNG, text: Y.Text): number {
  const s = text.toString()
  let at = prng.uint32(gen, 0, s.length)
  if (at > 0 && at < s.length && /[\uDC00-\uDFFF]/.test(s[at])) at--
  return at
}
