/**
 * Rebasing a text edit over the changes made since its base (shared/ot/rebase.ts): small scripts
 * ending in the expected text, then a seeded comparison with Yjs as the oracle.
 *
 * The oracle: one Y.Doc holds the base text; a second (client 2) makes random concurrent changes,
 * their deltas collected as a room collects them; a third (client 3, so Yjs too puts the changes'
 * text first on a tie) makes the edit at base. Merging the two through Yjs gives what a Yjs client
 * editing at base would have made; rebasing the edit over the deltas and applying it gives ours.
 * Base text, concurrent inserts and the edit's insert draw from disjoint characters (astral and
 * combining ones in each), so each character says where it came from. Checked on every case:
 *   - without the edit's insert, both results are the same text (the edit deleted exactly the
 *     base characters Yjs deletes; every concurrent insert survives, in the same order);
 *   - the edit's insert appears once, whole, at the `index` rebaseEdit reports, and where Yjs
 *     put it instead only concurrently inserted characters lie in between;
 *   - when the base units on both sides of the insert point (index+delete-1 and index+delete)
 *     survive the concurrent changes, both results are equal. (When one was deleted concurrently,
 *     the insert and a concurrent insert fall into one collapsed gap, where Yjs orders them by
 *     what was deleted and OT puts the change first: either order is a fair merge.)
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  apply,
  compose,
  type Delta,
  deltaToOp,
  lengthChange,
  opBoundaries,
  opToDelta,
  rebaseEdit,
  splitsSurrogatePair,
  type TextEdit,
  type TextOp,
} from '../shared/ot/index.ts'
import { seededTest, withNote } from './helpers/seed.ts'
import { randomEdit, randomText, typeRandomly } from './helpers/text-edits.ts'

const RUNS = 3000

/** `edit` made at `base`, rebased over `changes` (each a function editing a Y.Text), applied. */
function scenario(base: string, edit: TextEdit, ...changes: ((text: Y.Text) => void)[]) {
  const doc = new Y.Doc()
  const text = doc.getText('t')
  text.insert(0, base)
  const deltas: Delta[] = []
  text.observe((event) => deltas.push(event.delta as Delta))
  for (const change of changes) doc.transact(() => change(text))
  const rebased = rebaseEdit(edit, deltas)
  const result = apply(text.toString(), rebased.op)
  return { result, index: rebased.index }
}

describe('rebaseEdit, by example', () => {
  it('without changes since base, the edit applies as made', () => {
    expect(scenario('hello world', { index: 6, delete: 5, insert: 'there' })).toEqual({
      result: 'hello there',
      index: 6,
    })
  })

  it('text typed before the passage moves the edit along', () => {
    const typed = (t: Y.Text) => t.insert(0, 'oh, ')
    expect(scenario('hello world', { index: 6, delete: 5, insert: 'there' }, typed)).toEqual({
      result: 'oh, hello there',
      index: 10,
    })
  })

  it("where both insert at one place, the change's text comes first", () => {
    const typed = (t: Y.Text) => t.insert(5, ', dear')
    expect(scenario('hello world', { index: 5, delete: 0, insert: '!' }, typed)).toEqual({
      result: 'hello, dear! world',
      index: 11,
    })
  })

  it('a range deleted since base is not deleted twice', () => {
    const cut = (t: Y.Text) => t.delete(0, 8) // "hello wo"
    expect(scenario('hello world', { index: 6, delete: 5, insert: 'there' }, cut)).toEqual({
      result: 'there',
      index: 0,
    })
  })

  it("text inserted inside the edit's deleted range survives, before the edit's insert", () => {
    const typed = (t: Y.Text) => t.insert(8, 'XX')
    expect(scenario('hello world', { index: 6, delete: 5, insert: 'there' }, typed)).toEqual({
      result: 'hello XXthere',
      index: 8,
    })
  })

  it('an edit with nothing to insert still reports where it stands', () => {
    const typed = (t: Y.Text) => t.insert(0, 'oh, ')
    expect(scenario('hello world', { index: 5, delete: 6, insert: '' }, typed)).toEqual({
      result: 'oh, hello',
      index: 9,
    })
  })

  it('indexes count UTF-16 units: an astral character two, a combining accent one', () => {
    // "a😀b": b is at 3. "e\u0301" is two units: the accent has an index of its own.
    const typed = (t: Y.Text) => t.insert(0, '😀e\u0301')
    expect(scenario('a😀b', { index: 3, delete: 1, insert: 'B' }, typed)).toEqual({
      result: '😀e\u0301a😀B',
      index: 7,
    })
    expect(scenario('e\u0301x', { index: 1, delete: 1, insert: '\u0300' })).toEqual({
      result: 'e\u0300x',
      index: 1,
    })
  })

  it('converts between deltas and ops: an embed counts one unit; formatting changes nothing', () => {
    expect(
      deltaToOp([{ retain: 2, attributes: { bold: true } } as never, { insert: { image: 'x' } }]),
    ).toEqual([2, '\uFFFC'])
    expect(lengthChange([{ retain: 2 }, { insert: 'ab' }, { delete: 3 }, { insert: {} }])).toBe(0)
    expect(opToDelta([2, { d: 3 }, 'x', 1, { d: 'ab' }])).toEqual([
      { retain: 2 },
      { delete: 3 },
      { insert: 'x' },
      { retain: 1 },
      { delete: 2 },
    ])
  })

  it('finds the boundaries an op touches and the ones that split a surrogate pair', () => {
    expect(opBoundaries([2, { d: 3 }, 'x', 1, { d: 1 }])).toEqual([2, 5, 5, 6, 7])
    expect(splitsSurrogatePair('a😀b', 2)).toBe(true)
    expect([0, 1, 3, 4].some((at) => splitsSurrogatePair('a😀b', at))).toBe(false)
  })
})

/** Base text, concurrent inserts and the edit's insert: disjoint characters, each with astral and combining ones. */
const BASE = ['a', 'b', ' ', 'é', '😀', '\u0301']
const CONCURRENT = ['x', 'y', '𝄞', '\u0308']
const EDIT = ['Z', '🎉', '\u0327']
const fromEdit = new Set(EDIT)
const fromConcurrent = new Set(CONCURRENT)

/** False when the composed changes delete unit `unit` of the text they apply to. */
function survives(changes: TextOp, unit: number): boolean {
  let at = 0
  for (const c of changes) {
    if (typeof c === 'string') continue
    const n = typeof c === 'number' ? c : typeof c.d === 'number' ? c.d : c.d.length
    if (unit < at + n) return typeof c === 'number'
    at += n
  }
  return true
}

/** Removes the characters of the edit's insert (which only the edit's insert uses). */
const withoutEdit = (s: string) => [...s].filter((ch) => !fromEdit.has(ch)).join('')

function compareWithYjs(gen: prng.PRNG): void {
  const base = randomText(gen, BASE, 0, 10)
  const origin = new Y.Doc()
  origin.getText('t').insert(0, base)
  const baseState = Y.encodeStateAsUpdate(origin)
  const people = new Y.Doc()
  people.clientID = 2
  Y.applyUpdate(people, baseState)
  const bot = new Y.Doc()
  bot.clientID = 3
  Y.applyUpdate(bot, baseState)

  const deltas: Delta[] = []
  const record = (event: Y.YTextEvent) => deltas.push(event.delta as Delta)
  const text = people.getText('t')
  text.observe(record)
  for (let n = prng.uint32(gen, 0, 4); n > 0; n--) typeRandomly(gen, text, CONCURRENT)
  text.unobserve(record)

  const edit = randomEdit(gen, base, EDIT)
  const { index } = edit
  bot.transact(() => {
    const t = bot.getText('t')
    t.delete(index, edit.delete)
    if (edit.insert) t.insert(index, edit.insert)
  })

  const now = text.toString()
  expect(now.length).toBe(base.length + deltas.reduce((n, d) => n + lengthChange(d), 0))
  const rebased = rebaseEdit(edit, deltas)
  const ours = apply(now, rebased.op)
  Y.applyUpdate(people, Y.encodeStateAsUpdate(bot))
  const yjs = text.toString()
  const context = JSON.stringify({ base, edit, deltas, now, ours, yjs })

  expect(withoutEdit(ours), context).toBe(withoutEdit(yjs))
  expect(ours.slice(rebased.index, rebased.index + edit.insert.length), context).toBe(edit.insert)
  expect(withoutEdit(ours).length, context).toBe(ours.length - edit.insert.length)
  const theirs = [...yjs].findIndex((ch) => fromEdit.has(ch))
  if (edit.insert) {
    const at = [...yjs].slice(0, theirs).join('').length
    expect(yjs.slice(at, at + edit.insert.length), context).toBe(edit.insert)
    // Both inserts stand at an offset of the same text without them: only concurrent text between.
    const between = withoutEdit(ours).slice(Math.min(at, rebased.index), Math.max(at, rebased.index))
    expect(
      [...between].every((ch) => fromConcurrent.has(ch)),
      context,
    ).toBe(true)
  }
  const changes = deltas.map(deltaToOp).reduce((a, d) => compose(a, d), [] as TextOp)
  const end = index + edit.delete
  const left = end - 1
  const sidesKept = (left < 0 || survives(changes, left)) && (end >= base.length || survives(changes, end))
  if (sidesKept) expect(ours, context).toBe(yjs)
}

describe('rebaseEdit against Yjs (seeded)', () => {
  seededTest('an edit at base merges with concurrent changes as a Yjs client would', (gen) => {
    for (let i = 0; i < RUNS; i++) {
      try {
        compareWithYjs(gen)
      } catch (err) {
        throw withNote(err, `case ${i}`)
      }
    }
  })
})
