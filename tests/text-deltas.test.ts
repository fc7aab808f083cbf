/**
 * The room's text deltas (server/rooms/text-deltas.ts), computed from a marker instead of Yjs'
 * whole-text walk: for seeded random edits by several Yjs documents that sync in random batches
 * (local typing, remote updates, merges of many at once, astral and combining characters), the
 * delta of every transaction on the observed document turns the text before it into the text after
 * it (also where Yjs writes U+FFFD over the halves of a surrogate pair an edit split), and agrees
 * with `Y.YTextEvent.delta` (Yjs' own) wherever that one is right. The walk: typing steps over a
 * few items per keystroke, edits far apart over the text between them, and through the real server
 * a connection that keeps making the room walk far is closed with 4529 while typing goes on.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { applyDelta } from '../client/src/live/text-delta.ts'
import { ROOM_TEXT, type TextDelta } from '../server/rooms/change-log.ts'
import { itemsWalked, OBJECT_UNIT, roomText, TextDeltas } from '../server/rooms/text-deltas.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import { syncStep1Frame, syncUpdateFrame } from './helpers/hostile.ts'
import { RawPeer } from './helpers/raw-peer.ts'
import { cleanupAfterEach, tracked } from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'

const cleanups = cleanupAfterEach()
const { start } = tracked(cleanups)

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

/** A document whose room text is `items` one-unit items that do not merge (inserted back to front). */
function bigTextDoc(items: number, clientID = 1): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = clientID
  const text = doc.getText(ROOM_TEXT)
  doc.transact(() => {
    for (let i = 0; i < items; i++) text.insert(0, String.fromCharCode(97 + (i % 26)))
  })
  return doc
}

/** The updates `edit` makes to `doc`, called `count` times (edit number i). */
function updatesOf(doc: Y.Doc, count: number, edit: Edit): Uint8Array[] {
  const updates: Uint8Array[] = []
  const keep = (update: Uint8Array) => updates.push(update)
  doc.on('update', keep)
  for (let i = 0; i < count; i++) edit(doc.getText(ROOM_TEXT), i)
  doc.off('update', keep)
  return updates
}

type Edit = (text: Y.Text, i: number) => void
/** Typing forward from unit 1,000. */
const typing: Edit = (text, i) => text.insert(1_000 + i, 'x')
/** Two people typing at the two ends, in turn. */
const alternatingEnds: Edit = (text, i) => text.insert(i % 2 === 0 ? 0 : text.length, 'x')
/** Three people typing far apart, in turn. */
const threeTypists: Edit = (text, i) => text.insert(1_000 + (i % 3) * 1_500 + Math.floor(i / 3), 'x')
/** Edits at random places far apart. */
const randomPlaces =
  (gen: prng.PRNG): Edit =>
  (text) =>
    text.insert(prng.uint32(gen, 0, text.length), 'x')
/** Each update changes both ends of the text (a hostile sender). */
const bothEnds: Edit = (text) =>
  text.doc!.transact(() => {
    text.insert(0, 'x')
    text.insert(text.length, 'x')
  })

describe('the walk', () => {
  const ITEMS = 5_000
  /** Items walked for each of 60 updates `edit` makes, applied to a room holding ITEMS items. */
  const walks = (edit: Edit) => {
    const base = Y.encodeStateAsUpdate(bigTextDoc(ITEMS))
    const room = new Y.Doc()
    Y.applyUpdate(room, base)
    const deltas = new TextDeltas(room, ROOM_TEXT)
    room.on('afterTransaction', (transaction: Y.Transaction) => deltas.of(transaction))
    const sender = new Y.Doc()
    Y.applyUpdate(sender, base)
    // The first update of each place walks to it from where the others were.
    return updatesOf(sender, 60, edit)
      .map((update) => {
        const before = itemsWalked()
        Y.applyUpdate(room, update)
        return itemsWalked() - before
      })
      .slice(3)
  }

  it('typing steps over a few items per keystroke, also when several people type far apart', () => {
    expect(Math.max(...walks(typing))).toBeLessThanOrEqual(4)
    // Each place keeps its marker: a few items from each of them.
    expect(Math.max(...walks(threeTypists))).toBeLessThanOrEqual(40)
  })

  seededTest('edits at random places walk the stretch between two of the last places edited', (gen) => {
    const sorted = walks(randomPlaces(gen)).sort((a, b) => a - b)
    // 32 markers cut the text into stretches of about ITEMS / 33 items on average.
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(ITEMS / 10)
  })

  it('an update changing both ends of the text walks all of it (what the sender is charged)', () => {
    expect(Math.min(...walks(bothEnds))).toBeGreaterThan(ITEMS)
  })

  seededTest(
    'through the server: updates changing both ends of a long text close the sender with 4529; typing at one place or two, or at random places, does not',
    async (gen) => {
      // Message rates out of the way: only the walk budget may close these connections.
      const server = await start({ documentMessagesPerSecond: 100_000, documentMessageBurst: 100_000 })
      /** A raw peer that gave `room` a text of 50,000 items, then sends 600 one-unit edits. */
      const sender = async (room: string, edit: Edit) => {
        const doc = bigTextDoc(50_000)
        const peer = new RawPeer(server.url, room)
        cleanups.push(() => peer.close())
        await peer.opened
        await peer.send(syncStep1Frame())
        await peer.send(syncUpdateFrame(Y.encodeStateAsUpdate(doc)))
        for (const update of updatesOf(doc, 600, edit)) void peer.send(syncUpdateFrame(update))
        // Frames are handled in order: the answer to the second sync step 1 comes after every edit.
        const answers = () => peer.received.filter((frame) => frame[0] === 0 && frame[1] === 1).length
        await peer.send(syncStep1Frame())
        await Promise.race([
          peer.closed,
          new Promise<void>((resolve) => {
            const poll = setInterval(() => {
              if (answers() === 2) resolve(clearInterval(poll))
            }, 10)
          }),
        ])
        return peer
      }
      const length = (room: string) => server.server.rooms.get(room)?.doc.getText(ROOM_TEXT).length
      for (const [room, edit] of [
        ['typing', typing],
        ['ends', alternatingEnds],
        ['random', randomPlaces(gen)],
      ] as const) {
        expect((await sender(room, edit)).closeCode).toBe(null)
        expect(length(room)).toBe(50_600)
      }
      const hostile = await sender('both-ends', bothEnds)
      expect(await hostile.closedWithin(10_000)).toBe(CloseCode.rateLimited)
      expect(hostile.closeReason).toContain('text items walked per second')
      // What came after the budget ran out was not applied.
      expect(length('both-ends')).toBeLessThan(51_200)
    },
  )
})

/** An insert position, not inside a surrogate pair. */
function insertPoint(gen: prng.PRNG, text: Y.Text): number {
  const s = text.toString()
  let at = prng.uint32(gen, 0, s.length)
  if (at > 0 && at < s.length && /[\uDC00-\uDFFF]/.test(s[at])) at--
  return at
}

describe('TextDeltas.unitsAt', () => {
  seededTest('reads the units of the current text at any index, from the nearest marker', (gen) => {
    const doc = new Y.Doc()
    const text = doc.getText(ROOM_TEXT)
    const deltas = new TextDeltas(doc, ROOM_TEXT)
    doc.on('afterTransaction', (transaction: Y.Transaction) => deltas.of(transaction))
    const pieces = ['a', 'é', '😀', 'e\u0301', 'xyz', '🎉🎉']
    for (let round = 0; round < 200; round++) {
      const at = prng.uint32(gen, 0, text.length)
      if (prng.uint32(gen, 0, 9) === 0) text.insertEmbed(at, { image: round })
      else text.insert(at, prng.oneOf(gen, pieces))
      if (text.length > 10 && prng.bool(gen)) text.delete(prng.uint32(gen, 0, text.length - 2), 1)
      const current = roomText(text)
      const indexes = Array.from({ length: 5 }, () => prng.uint32(gen, 0, current.length + 2))
      const expected = indexes.map((i) => (i < current.length ? current.charCodeAt(i) : Number.NaN))
      expect(deltas.unitsAt(indexes)).toEqual(expected)
    }
  })

  it('reading beside where someone types walks a few items, not the text', () => {
    const doc = new Y.Doc()
    const text = doc.getText(ROOM_TEXT)
    const deltas = new TextDeltas(doc, ROOM_TEXT)
    doc.on('afterTransaction', (transaction: Y.Transaction) => deltas.of(transaction))
    for (let i = 0; i < 20_000; i++) text.insert(0, 'x')
    const place = 12_345
    for (let i = 0; i < 50; i++) text.insert(place + i, 'y')
    const before = itemsWalked()
    expect(deltas.unitsAt([place + 49, place + 50])).toEqual(['y'.charCodeAt(0), 'x'.charCodeAt(0)])
    expect(itemsWalked() - before).toBeLessThan(10)
  })
})
