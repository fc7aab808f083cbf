/**
 * The parts of admission that must agree with Yjs exactly, on seeded random documents of several
 * concurrent writers (text with accents and astral characters, deletions, maps, arrays):
 *
 * - `DeletedIndex` answers "is this range deleted?" as the document's own structs do;
 * - `admitUpdate` drops exactly the delete ranges already deleted, and what it keeps applies to the
 *   same document as the update received;
 * - `sliceStructs` + `sliceDeletes` cut an offline session's update into slices that, applied in
 *   order (each admitted on its own, none pending), give the same document as the whole update.
 */
import * as prng from 'lib0/prng'
import { expect } from 'vitest'
import * as Y from 'yjs'
import { DeletedIndex } from '../server/admission/deleted-index.ts'
import { admitUpdate } from '../server/admission/update-admission.ts'
import { readUpdateShape } from '../server/admission/update-shape.ts'
import { sliceBytes, sliceDeletes, sliceStructs } from '../server/admission/update-slices.ts'
import { defaultConfig } from '../server/config/config.ts'
import { restoreDoc } from '../server/rooms/room-restore.ts'
import { seededTest } from './helpers/seed.ts'

/** The server's default bounds on client ids, subdocuments and root types. */
const LIMITS = defaultConfig
const ALPHABETS = ['abcdef ghij', 'éàü ßø', '😀🎉 x', '中文字']

/** A few random edits by `doc`'s client: text inserts and deletes, map sets, array pushes. */
function edit(gen: prng.PRNG, doc: Y.Doc, count: number): void {
  const text = doc.getText('codemirror')
  for (let i = 0; i < count; i++) {
    const choice = prng.int32(gen, 0, 9)
    if (choice < 5 || text.length === 0) {
      const alphabet = prng.oneOf(gen, ALPHABETS)
      const word = Array.from({ length: prng.int32(gen, 1, 6) }, () => prng.oneOf(gen, [...alphabet])).join(
        '',
      )
      // Insert at a code-point boundary (Yjs counts UTF-16 units; never split a surrogate pair).
      const chars = [...text.toString()]
      const at = prng.int32(gen, 0, chars.length)
      text.insert(chars.slice(0, at).join('').length, word)
    } else if (choice < 8) {
      const chars = [...text.toString()]
      const at = prng.int32(gen, 0, chars.length - 1)
      const length = prng.int32(gen, 1, Math.min(8, chars.length - at))
      const from = chars.slice(0, at).join('').length
      text.delete(from, chars.slice(at, at + length).join('').length)
    } else if (choice === 8) {
      doc.getMap('tandem').set(prng.oneOf(gen, ['a', 'b', 'saved']), prng.int32(gen, 0, 1000))
    } else {
      doc.getArray('list').push([prng.int32(gen, 0, 1000)])
    }
  }
}

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
}

/** A room document shared by three writers, then two of them work offline: [room, offline writer]. */
function scenario(gen: prng.PRNG): [Y.Doc, Y.Doc] {
  const writers = [1, 2, 3].map((client) => {
    const doc = new Y.Doc()
    doc.clientID = client
    return doc
  })
  for (let round = 0; round < 8; round++) {
    for (const writer of writers) edit(gen, writer, prng.int32(gen, 1, 20))
    const a = prng.oneOf(gen, writers)
    const b = prng.oneOf(gen, writers)
    if (a !== b) sync(a, b)
  }
  const room = new Y.Doc()
  for (const writer of writers.slice(0, 2)) Y.applyUpdate(room, Y.encodeStateAsUpdate(writer))
  // Two writers go offline together with what the room has: they edit and sync with each other
  // (so each one's new items build on the other's), then one of them reconnects with all of it.
  const [, second, offline] = writers
  for (const writer of [second, offline]) Y.applyUpdate(writer, Y.encodeStateAsUpdate(room))
  for (let round = 0; round < 12; round++) {
    edit(gen, prng.bool(gen) ? second : offline, prng.int32(gen, 5, 40))
    sync(second, offline)
  }
  return [room, offline]
}

const copy = (doc: Y.Doc) => {
  const clone = new Y.Doc()
  Y.applyUpdate(clone, Y.encodeStateAsUpdate(doc))
  return clone
}

const same = (a: Y.Doc, b: Y.Doc) => {
  expect(a.getText('codemirror').toString()).toBe(b.getText('codemirror').toString())
  expect(a.getMap('tandem').toJSON()).toEqual(b.getMap('tandem').toJSON())
  expect(a.getArray('list').toJSON()).toEqual(b.getArray('list').toJSON())
  expect(Y.encodeStateVector(a)).toEqual(Y.encodeStateVector(b))
}

seededTest(
  'DeletedIndex agrees with the document on random ranges',
  (gen) => {
    const [room, offline] = scenario(gen)
    Y.applyUpdate(room, Y.encodeStateAsUpdate(offline, Y.encodeStateVector(room)))
    const index = new DeletedIndex(new Y.Doc())
    const built = new DeletedIndex(room)
    // Also follow a document as it changes: a fresh one fed the room's update.
    const follower = new Y.Doc()
    const followed = new DeletedIndex(follower)
    Y.applyUpdate(follower, Y.encodeStateAsUpdate(room))
    for (let i = 0; i < 500; i++) {
      const client = prng.int32(gen, 1, 3)
      const state = Y.getState(room.store, client)
      if (state === 0) continue
      const clock = prng.int32(gen, 0, state - 1)
      const end = prng.int32(gen, clock + 1, Math.min(state, clock + 30))
      let deleted = true
      for (let c = clock; c < end && deleted; c++) {
        const structs = room.store.clients.get(client)!
        deleted = structs[Y.findIndexSS(structs, c)].deleted
      }
      expect(built.covers(client, clock, end)).toBe(deleted)
      expect(followed.covers(client, clock, end)).toBe(deleted)
      const live: number[] = []
      built.forEachLive(client, clock, end, (from, to) => live.push(from, to))
      for (let c = clock; c < end; c++) {
        const structs = room.store.clients.get(client)!
        const isLive = !structs[Y.findIndexSS(structs, c)].deleted
        const inGap = live.some((value, k) => k % 2 === 0 && c >= value && c < live[k + 1])
        expect(inGap).toBe(isLive)
      }
    }
    expect(index.rangeCount(1)).toBe(0)
  },
  { seeds: [1, 2, 3] },
)

seededTest(
  'admission drops delete ranges the room already deleted; what it keeps applies the same',
  (gen) => {
    const [room, offline] = scenario(gen)
    const update = Y.encodeStateAsUpdate(offline, Y.encodeStateVector(room))
    const expected = copy(room)
    Y.applyUpdate(expected, update)
    // Send the whole state (every deletion again), as a reconnecting client's step 2 does.
    const everything = Y.encodeStateAsUpdate(offline)
    const target = copy(room)
    Y.applyUpdate(target, update)
    const index = new DeletedIndex(target)
    const again = admitUpdate(
      target,
      everything,
      readUpdateShape(everything, { maxJsonDepth: 64 }),
      LIMITS,
      index,
    )
    expect(again.newStructs).toBe(0)
    // Nothing is new: only structs the room holds, and no delete range left.
    expect(again.deletes.size).toBe(0)
    // From the room before the offline work: what admission keeps does what the update does.
    const fresh = copy(room)
    const admitted = admitUpdate(
      fresh,
      everything,
      readUpdateShape(everything, { maxJsonDepth: 64 }),
      LIMITS,
      new DeletedIndex(fresh),
    )
    Y.applyUpdate(fresh, admitted.update!)
    same(fresh, expected)
  },
  { seeds: [4, 5, 6] },
)

seededTest(
  'an offline session cut into slices applies in order to the same document',
  (gen) => {
    const [room, offline] = scenario(gen)
    const update = Y.encodeStateAsUpdate(offline, Y.encodeStateVector(room))
    const expected = copy(room)
    Y.applyUpdate(expected, update)
    const target = copy(room)
    const index = new DeletedIndex(target)
    const shape = readUpdateShape(update, { maxJsonDepth: 64 })
    const admission = admitUpdate(target, update, shape, LIMITS, index)
    // A tiny target: a few structs per slice, so ordering across clients matters.
    const sliceTarget = prng.int32(gen, 3_000, 30_000)
    const slices = sliceStructs(target, admission.update!, shape, sliceTarget).map(sliceBytes)
    expect(slices.length).toBeGreaterThan(1)
    const apply = (slice: Uint8Array) => {
      const own = admitUpdate(target, slice, readUpdateShape(slice, { maxJsonDepth: 64 }), LIMITS, index)
      if (own.update) Y.applyUpdate(target, own.update)
      // Nothing is ever left pending.
      expect(target.store.pendingStructs).toBeNull()
      expect(target.store.pendingDs).toBeNull()
    }
    for (const slice of slices) apply(slice)
    for (const slice of sliceDeletes(target, admission.deletes, prng.int32(gen, 2_000, 20_000))) apply(slice)
    same(target, expected)
  },
  { seeds: [7, 8, 9, 10, 11] },
)

seededTest(
  'a stored state too costly for one turn is restored in slices, with other work between them',
  async (gen) => {
    const [room, offline] = scenario(gen)
    Y.applyUpdate(room, Y.encodeStateAsUpdate(offline, Y.encodeStateVector(room)))
    const snapshot = Y.encodeStateAsUpdate(room)
    const restored = new Y.Doc()
    let transactions = 0
    restored.on('afterTransaction', () => transactions++)
    let otherWork = 0
    const tick = () => {
      otherWork++
      if (otherWork < 10_000) timer = setImmediate(tick)
    }
    let timer = setImmediate(tick)
    const setAside = await restoreDoc(
      restored,
      { snapshot, updates: [], logBytes: 0 },
      {
        maxJsonDepth: 64,
        budget: 1_000_000,
      },
    )
    const turnsDuring = otherWork
    clearImmediate(timer)
    expect(setAside).toEqual([])
    expect(transactions).toBeGreaterThan(1)
    expect(turnsDuring).toBeGreaterThan(1)
    same(restored, room)
  },
  { seeds: [12, 13] },
)

seededTest(
  'a long pasted string is cut into chained items that give the same document',
  (gen) => {
    const [room] = scenario(gen)
    const writer = new Y.Doc()
    writer.clientID = 77
    Y.applyUpdate(writer, Y.encodeStateAsUpdate(room))
    const text = writer.getText('codemirror')
    // Astral characters, so a cut could fall between the halves of a surrogate pair.
    const paste = Array.from({ length: 600_000 }, (_, i) => (i % 7 === 0 ? '😀' : 'ab')).join('')
    text.insert(prng.int32(gen, 0, text.length), paste)
    const update = Y.encodeStateAsUpdate(writer, Y.encodeStateVector(room))
    const expected = copy(room)
    Y.applyUpdate(expected, update)
    const target = copy(room)
    const shape = readUpdateShape(update, { maxJsonDepth: 64 })
    const slices = sliceStructs(target, update, shape, 25_000_000).map(sliceBytes)
    expect(slices.length).toBeGreaterThan(2)
    for (const slice of slices) {
      expect(slice.byteLength).toBeLessThan(512 * 1024)
      Y.applyUpdate(target, slice)
      expect(target.store.pendingStructs).toBeNull()
    }
    same(target, expected)
    expect(target.getText('codemirror').toString()).not.toContain('\ufffd')
  },
  { seeds: [14, 15] },
)
