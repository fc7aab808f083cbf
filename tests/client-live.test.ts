/**
 * The live page's logic without a browser or a server (client/src/live/): text deltas read and
 * applied in UTF-16 units (astral and combining characters, the same deltas Y.Text emits, seeded),
 * the document kept from reset/change/presence events (duplicates ignored, lost track detected), the
 * feed's URLs, and the feed's connection against a scripted EventSource and window: its status, the
 * browser's own reconnects, reopening with `?lastEventId=` when the network comes back or the server
 * answered with an error, and stopping on a refusal.
 */
import * as prng from 'lib0/prng'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { LiveDocument } from '../client/src/live/live-document.ts'
import {
  type EventSourceLike,
  type FeedStatus,
  feedStatus,
  feedUrl,
  type LiveFeedOptions,
  openLiveFeed,
} from '../client/src/live/live-feed.ts'
import { lastChangeText } from '../client/src/live/live-view.ts'
import {
  applyDelta,
  applyDeltaTo,
  DeltaDoesNotFitError,
  deltaBaseLength,
  parseDelta,
  type TextDelta,
} from '../client/src/live/text-delta.ts'
import { FALLBACK_COLOR } from '../client/src/presence-states.ts'
import { liveRoomFor, liveUrl } from '../client/src/room-url.ts'
import { seededTest, seedRange } from './helpers/seed.ts'

/** A string as a DOM Text node edits it (insertData/deleteData in UTF-16 units). */
class TextNodeLike {
  constructor(public data: string) {}
  insertData(offset: number, data: string): void {
    if (offset > this.data.length) throw new RangeError('offset past the end')
    this.data = this.data.slice(0, offset) + data + this.data.slice(offset)
  }
  deleteData(offset: number, count: number): void {
    if (offset > this.data.length) throw new RangeError('offset past the end')
    this.data = this.data.slice(0, offset) + this.data.slice(offset + count)
  }
}

/** Applies `delta` both ways and checks they agree. */
function applied(text: string, delta: TextDelta): string {
  const result = applyDelta(text, delta)
  const node = new TextNodeLike(text)
  applyDeltaTo(node, delta)
  expect(node.data).toBe(result)
  return result
}

describe('text deltas', () => {
  it('apply retain, insert and delete runs; the rest of the text is unchanged', () => {
    expect(applied('hello world', [{ retain: 6 }, { delete: 5 }, { insert: 'there' }])).toBe('hello there')
    expect(applied('hello', [{ insert: '> ' }])).toBe('> hello')
    expect(applied('hello', [])).toBe('hello')
    expect(applied('', [{ insert: 'first' }])).toBe('first')
    expect(applied('abc', [{ delete: 3 }])).toBe('')
    expect(applied('abc', [{ retain: 3 }, { insert: 'd' }])).toBe('abcd')
  })

  it('count UTF-16 code units: astral characters are two, combining accents one', () => {
    // "a😀b": b is at 3.
    expect(applied('a😀b', [{ retain: 3 }, { insert: 'x' }])).toBe('a😀xb')
    expect(applied('a😀b', [{ retain: 1 }, { delete: 2 }])).toBe('ab')
    expect(applied('a😀b', [{ retain: 1 }, { insert: '👋🏽' }, { retain: 2 }, { delete: 1 }])).toBe('a👋🏽😀')
    // "e\u0301" (é as e + combining acute): the accent is a unit of its own.
    expect(applied('cafe\u0301!', [{ retain: 5 }, { insert: 's' }])).toBe('cafe\u0301s!')
    expect(applied('cafe\u0301!', [{ retain: 4 }, { delete: 1 }])).toBe('cafe!')
    expect(deltaBaseLength([{ retain: 3 }, { insert: '😀' }, { delete: 2 }])).toBe(5)
  })

  it('refuse a delta that runs past the end of the text', () => {
    expect(() => applyDelta('a😀', [{ retain: 4 }])).toThrow(DeltaDoesNotFitError)
    expect(() => applyDelta('abc', [{ retain: 2 }, { delete: 2 }])).toThrow(DeltaDoesNotFitError)
    expect(applyDelta('abc', [{ retain: 3 }])).toBe('abc')
  })

  it('read only well-formed runs', () => {
    expect(parseDelta([{ retain: 1 }, { insert: 'x' }, { delete: 2 }])).toEqual([
      { retain: 1 },
      { insert: 'x' },
      { delete: 2 },
    ])
    // Attributes (Quill's formatting) are not the text's business.
    expect(parseDelta([{ insert: 'x', attributes: { bold: true } }])).toEqual([{ insert: 'x' }])
    expect(parseDelta([])).toEqual([])
    for (const bad of [
      null,
      'retain',
      {},
      [null],
      [{}],
      [{ retain: -1 }],
      [{ retain: 1.5 }],
      [{ retain: '1' }],
      [{ delete: Number.NaN }],
      [{ insert: 5 }],
      [{ insert: { image: 'x' } }],
      [{ retain: 1, insert: 'x' }],
    ]) {
      expect(parseDelta(bad), JSON.stringify(bad)).toBeNull()
    }
  })

  seededTest(
    'follow Y.Text exactly: the deltas its events carry rebuild its text, astral characters included',
    (gen) => {
      const doc = new Y.Doc()
      const ytext = doc.getText('codemirror')
      let mirror = ''
      ytext.observe((event) => {
        const delta = parseDelta(JSON.parse(JSON.stringify(event.delta)))
        expect(delta).not.toBeNull()
        mirror = applied(mirror, delta!)
      })
      const pieces = ['a', 'bc', '😀', 'e\u0301', '\n', '👋🏽', 'ü', ' ', 'x😀y']
      // Indexes at code point boundaries: an index inside a pair is refused by the HTTP API.
      const boundaries = (text: string) => {
        const at = [0]
        for (const point of text) at.push(at[at.length - 1] + point.length)
        return at
      }
      for (let step = 0; step < 300; step++) {
        const text = ytext.toString()
        const at = boundaries(text)
        const from = prng.oneOf(gen, at)
        const to = prng.oneOf(
          gen,
          at.filter((i) => i >= from && i <= from + 6),
        )
        doc.transact(() => {
          if (to > from && prng.bool(gen)) ytext.delete(from, to - from)
          if (prng.int32(gen, 0, 2) > 0) ytext.insert(from, prng.oneOf(gen, pieces))
        })
        expect(mirror).toBe(ytext.toString())
      }
    },
    { seeds: seedRange(4) },
  )
})

const reset = (text: string, at: number | null = 1_700_000_000_000) =>
  JSON.stringify({ text, at, reason: 'start' })
const change = (delta: TextDelta, author: { name: string } | null = null) =>
  JSON.stringify({ delta, at: 1_700_000_000_000, author })

describe('the live document', () => {
  it('takes its text and id from a reset, then applies changes with greater ids only', () => {
    const doc = new LiveDocument()
    expect(doc.id).toBeNull()
    expect(doc.receive('reset', '4', reset('a😀b'))).toEqual({ kind: 'reset', text: 'a😀b', reason: 'start' })
    expect([doc.text, doc.id]).toEqual(['a😀b', 4])
    expect(doc.receive('change', '5', change([{ retain: 3 }, { insert: 'x' }], { name: 'Ada' }))).toEqual({
      kind: 'change',
      delta: [{ retain: 3 }, { insert: 'x' }],
    })
    expect([doc.text, doc.id]).toEqual(['a😀xb', 5])
    expect(doc.lastChange).toEqual({ at: 1_700_000_000_000, author: 'Ada' })
    // A resumed stream may repeat what was applied: ignored, the text is unchanged.
    expect(doc.receive('change', '5', change([{ retain: 3 }, { insert: 'x' }]))).toEqual({ kind: 'ignored' })
    expect(doc.receive('change', '3', change([{ insert: 'old' }]))).toEqual({ kind: 'ignored' })
    expect(doc.text).toBe('a😀xb')
    // Ids may skip (a change that did not touch the text takes one).
    doc.receive('change', '9', change([{ delete: 1 }]))
    expect([doc.text, doc.id]).toEqual(['😀xb', 9])
    // A later reset replaces everything.
    doc.receive('reset', '20', JSON.stringify({ text: 'fresh', at: 5, reason: 'expired' }))
    expect([doc.text, doc.id, doc.lastChange]).toEqual(['fresh', 20, { at: 5, author: null }])
    // A room without changes stands at 0.
    doc.receive('reset', '0', JSON.stringify({ text: '', at: null, reason: 'start' }))
    expect([doc.text, doc.id, doc.lastChange]).toEqual(['', 0, null])
  })

  it('loses track (and forgets its id) on a change it cannot apply', () => {
    const before = new LiveDocument()
    expect(before.receive('change', '1', change([{ insert: 'x' }])).kind).toBe('lost')

    for (const [id, data] of [
      ['3', change([{ retain: 10 }, { insert: 'x' }])],
      ['3', '{"delta": "nope"}'],
      ['3', 'not json'],
      ['x', change([{ insert: 'x' }])],
    ]) {
      const doc = new LiveDocument()
      doc.receive('reset', '2', reset('abc'))
      expect(doc.receive('change', id, data).kind, data).toBe('lost')
      expect(doc.id).toBeNull()
      expect(doc.text).toBe('abc')
    }
    const doc = new LiveDocument()
    expect(doc.receive('reset', '', reset('x')).kind).toBe('lost')
    expect(doc.receive('reset', '1', '{"text": 5}').kind).toBe('lost')
  })

  it('keeps who is there from presence events, with names and colours fit to show', () => {
    const doc = new LiveDocument()
    const outcome = doc.receive(
      'presence',
      '',
      JSON.stringify({
        people: [
          { name: 'Ada', color: '#3e63dd' },
          { name: 'Eve\u202e', color: 'red; position: fixed' },
          { name: '', color: '#fff' },
          'nobody',
        ],
        joined: ['Ada'],
        left: [],
      }),
    )
    expect(outcome).toEqual({
      kind: 'presence',
      people: [
        { name: 'Ada', color: '#3e63dd' },
        { name: 'Eve', color: FALLBACK_COLOR },
        { name: 'Anonymous', color: '#fff' },
      ],
      joined: ['Ada'],
      left: [],
    })
    expect(doc.people).toHaveLength(3)
    expect(doc.receive('presence', '', 'garbage')).toEqual({ kind: 'ignored' })
    expect(doc.people).toHaveLength(3)
    expect(doc.receive('keep-alive', '', '')).toEqual({ kind: 'ignored' })
  })

  it('says when the last change was made and by whom', () => {
    expect(lastChangeText(null)).toBe('')
    expect(lastChangeText({ at: null, author: null })).toBe('')
    expect(lastChangeText({ at: Date.UTC(2024, 0, 1, 12), author: 'Ada' }, 'en-GB')).toMatch(
      /^Changed \S.* by Ada$/,
    )
  })
})

describe('live page URLs', () => {
  it('finds the room of /r/<room>/live and makes live links from room links', () => {
    expect(liveRoomFor('/r/abc_DEF-123/live')).toBe('abc_DEF-123')
    expect(liveRoomFor('/r/abc/live/')).toBe('abc')
    expect(liveRoomFor('/r/abc')).toBeNull()
    expect(liveRoomFor('/r/abc/edit')).toBeNull()
    expect(liveRoomFor('/r//live')).toBeNull()
    expect(liveRoomFor('/r/a b/live')).toBeNull()
    expect(liveUrl('https://t.example/r/abc')).toBe('https://t.example/r/abc/live')
    expect(liveUrl('https://t.example/r/abc#token=x.y.z')).toBe('https://t.example/r/abc/live#token=x.y.z')
  })

  it('puts the token and the last id in the feed URL, as an EventSource cannot set headers', () => {
    expect(feedUrl('abc', null, null)).toBe('/api/rooms/abc/events')
    expect(feedUrl('abc', 'x.y.z', null)).toBe('/api/rooms/abc/events?token=x.y.z')
    expect(feedUrl('abc', 'x.y.z', 42)).toBe('/api/rooms/abc/events?token=x.y.z&lastEventId=42')
    expect(feedUrl('abc', null, 0)).toBe('/api/rooms/abc/events?lastEventId=0')
  })
})

/** An EventSource the test drives: it opens, fails and delivers events when told. */
class ScriptedSource extends EventTarget implements EventSourceLike {
  readyState = 0
  constructor(readonly url: string) {
    super()
  }
  close(): void {
    this.readyState = 2
  }
  open(): void {
    this.readyState = 1
    this.dispatchEvent(new Event('open'))
  }
  /** The connection dropped; the browser will reconnect by itself (`retry`) or gave up. */
  fail(retry: boolean): void {
    this.readyState = retry ? 0 : 2
    this.dispatchEvent(new Event('error'))
  }
  emit(type: string, id: string, data: string): void {
    if (this.readyState === 2) return
    this.dispatchEvent(new MessageEvent(type, { data, lastEventId: id }))
  }
}

class ScriptedWindow extends EventTarget {
  navigator = { onLine: true }
  setOnline(online: boolean): void {
    this.navigator.onLine = online
    this.dispatchEvent(new Event(online ? 'online' : 'offline'))
  }
}

describe('the live feed', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const start = (overrides: Partial<LiveFeedOptions> = {}) => {
    const sources: ScriptedSource[] = []
    const statuses: FeedStatus[] = []
    const win = new ScriptedWindow()
    const doc = new LiveDocument()
    const whenClosed = vi.fn(async (): Promise<'retry' | 'stop'> => 'retry')
    const feed = openLiveFeed({
      url: (lastId) => feedUrl('room', 'tok', lastId),
      lastId: () => doc.id,
      onEvent: (type, id, data) => (doc.receive(type, id, data).kind === 'lost' ? 'lost' : 'ok'),
      onStatus: (status) => statuses.push(status),
      whenClosed,
      open: (url) => {
        const source = new ScriptedSource(url)
        sources.push(source)
        return source
      },
      win,
      retryDelayMs: (attempt) => attempt * 1000,
      ...overrides,
    })
    const last = () => sources[sources.length - 1]
    return { feed, sources, statuses, win, doc, whenClosed, last }
  }

  it('follows one stream through the browser’s own reconnects, without reopening it', () => {
    const { feed, sources, statuses, doc, last } = start()
    expect(sources.map((s) => s.url)).toEqual(['/api/rooms/room/events?token=tok'])
    expect(statuses).toEqual(['connecting'])
    last().open()
    last().emit('reset', '7', reset('ab'))
    last().emit('presence', '7', JSON.stringify({ people: [{ name: 'Ada', color: '#123456' }] }))
    last().emit('change', '8', change([{ retain: 2 }, { insert: 'c' }]))
    expect(feed.status()).toBe('live')
    // The browser reconnects by itself with Last-Event-ID: 8; the server may repeat, never lose.
    last().fail(true)
    expect(feed.status()).toBe('reconnecting')
    last().open()
    last().emit('change', '8', change([{ retain: 2 }, { insert: 'c' }]))
    last().emit('change', '9', change([{ retain: 3 }, { insert: 'd' }]))
    expect(sources).toHaveLength(1)
    expect([doc.text, doc.id, doc.people]).toEqual(['abcd', 9, [{ name: 'Ada', color: '#123456' }]])
    expect(statuses).toEqual(['connecting', 'live', 'reconnecting', 'live'])
    feed.stop()
  })

  it('shows offline while the browser is, and on coming back reopens a stream that is not open, from the last id', () => {
    const { feed, sources, win, doc, last } = start()
    last().open()
    last().emit('reset', '3', reset('x'))
    win.setOnline(false)
    expect(feed.status()).toBe('offline')
    // An open stream that outlived the offline spell is kept.
    win.setOnline(true)
    expect(feed.status()).toBe('live')
    expect(sources).toHaveLength(1)

    win.setOnline(false)
    last().fail(false)
    expect(feed.status()).toBe('offline')
    win.setOnline(true)
    expect(sources).toHaveLength(2)
    expect(last().url).toBe('/api/rooms/room/events?token=tok&lastEventId=3')
    expect(sources[0].readyState).toBe(2)
    expect(feed.status()).toBe('reconnecting')
    last().open()
    last().emit('change', '4', change([{ retain: 1 }, { insert: 'y' }]))
    expect([doc.text, feed.status()]).toEqual(['xy', 'live'])

    // One the browser is still retrying is replaced at once too.
    win.setOnline(false)
    last().fail(true)
    win.setOnline(true)
    expect(sources).toHaveLength(3)
    expect(last().url).toBe('/api/rooms/room/events?token=tok&lastEventId=4')
    expect(sources[1].readyState).toBe(2)
    // Events from a replaced stream are not heard.
    sources[1].readyState = 1
    sources[1].emit('change', '5', change([{ insert: 'stale' }]))
    expect(doc.text).toBe('xy')
    feed.stop()
  })

  it('asks why when the browser gives up on a stream, and reopens it after a pause from the last id', async () => {
    const { feed, sources, whenClosed, doc, last } = start()
    last().open()
    last().emit('reset', '10', reset('text'))
    last().fail(false)
    await vi.advanceTimersByTimeAsync(0)
    expect(whenClosed).toHaveBeenCalledTimes(1)
    expect(feed.status()).toBe('reconnecting')
    expect(sources).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(sources).toHaveLength(2)
    expect(last().url).toBe('/api/rooms/room/events?token=tok&lastEventId=10')
    // Still failing: the pause grows.
    last().fail(false)
    await vi.advanceTimersByTimeAsync(1999)
    expect(sources).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(sources).toHaveLength(3)
    last().open()
    expect([doc.text, feed.status()]).toEqual(['text', 'live'])
    feed.stop()
  })

  it('stays closed once the server refused the page', async () => {
    const { feed, sources, win, last } = start({ whenClosed: async () => 'stop' })
    last().fail(false)
    await vi.advanceTimersByTimeAsync(0)
    expect(feed.status()).toBe('closed')
    win.setOnline(false)
    win.setOnline(true)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(sources).toHaveLength(1)
    expect(feed.status()).toBe('closed')
    feed.stop()
  })

  it('starts over from a reset when the page loses track', async () => {
    const { feed, sources, doc, last } = start()
    last().open()
    last().emit('reset', '1', reset('abc'))
    last().emit('change', '2', change([{ retain: 99 }, { insert: '!' }]))
    expect(sources[0].readyState).toBe(2)
    expect(feed.status()).toBe('reconnecting')
    await vi.advanceTimersByTimeAsync(1000)
    expect(last().url).toBe('/api/rooms/room/events?token=tok')
    last().open()
    last().emit('reset', '2', reset('abc!'))
    expect([doc.text, doc.id]).toEqual(['abc!', 2])
    feed.stop()
  })

  it('derives the status from the refusal, the network, the stream and its history', () => {
    const facts = { refused: false, online: true, readyState: 1, everOpen: true }
    expect(feedStatus(facts)).toBe('live')
    expect(feedStatus({ ...facts, readyState: 0 })).toBe('reconnecting')
    expect(feedStatus({ ...facts, readyState: 0, everOpen: false })).toBe('connecting')
    expect(feedStatus({ ...facts, readyState: null, everOpen: false })).toBe('connecting')
    expect(feedStatus({ ...facts, online: false })).toBe('offline')
    expect(feedStatus({ ...facts, online: false, refused: true })).toBe('closed')
  })
})
