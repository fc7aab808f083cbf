/**
 * The live change feed over Server-Sent Events (PROTOCOL.md, "The change feed"): its head and
 * first fields, a reset then presence for a fresh subscriber, every change a stock client makes
 * exactly once and in id order (the deltas rebuild the client's text), presence when people join,
 * rename and leave but not when a cursor moves, the keep-alive comment, metrics, and shutdown
 * ending streams cleanly.
 */
import { describe, expect, it } from 'vitest'
import { feedOpener, typeEdits } from './helpers/event-stream.ts'
import { parsePrometheusText } from './helpers/prometheus-text.ts'
import { cleanupAfterEach, synced, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const t = tracked(cleanups)

const openFeed = feedOpener(cleanups)

describe('change feed', () => {
  it('starts with retry, a reset and presence, then every change once, in order, with headers that stop buffering', async () => {
    const { port, url } = await t.start()
    const writer = t.client(url, 'feed')
    await synced(writer)
    writer.doc.getText('codemirror').insert(0, 'before ')
    await waitFor(
      async () => (await (await fetch(`http://127.0.0.1:${port}/api/rooms/feed/text`)).text()) === 'before ',
      'the first change',
    )

    const stream = await openFeed(port, 'feed')
    expect(stream.status).toBe(200)
    expect(stream.response.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(stream.response.headers['cache-control']).toBe('no-cache')
    expect(stream.response.headers['x-accel-buffering']).toBe('no')
    await stream.until((s) => s.named('presence').length === 1, 'reset and presence')
    expect(stream.retry).toBe(2000)
    expect(stream.events.map((event) => event.event)).toEqual(['reset', 'presence'])
    const reset = JSON.parse(stream.events[0].data)
    expect(reset).toMatchObject({ text: 'before ', reason: 'start' })
    expect(Number(stream.events[0].id)).toBeGreaterThan(0)

    typeEdits(writer, 200)
    const expected = writer.doc.getText('codemirror')
    await stream.until((s) => s.text() === expected.toString(), 'the feed to follow the typing')
    const seen = stream.ids()
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1])
    const changes = stream.changes()
    expect(changes.length).toBeGreaterThan(100)
    expect(changes[0].at).toBeTypeOf('number')
    expect(changes.every((change) => change.delta.length > 0)).toBe(true)
  })

  it('sends presence when someone joins, renames or leaves, not when a cursor moves', async () => {
    const { port, url } = await t.start()
    const stream = await openFeed(port, 'people')
    await stream.until((s) => s.named('presence').length === 1, 'the first presence')
    expect(JSON.parse(stream.named('presence')[0].data)).toEqual({ people: [], joined: [], left: [] })

    const ada = t.client(url, 'people')
    ada.provider.awareness.setLocalStateField('user', { name: 'Ada', color: '#30bced' })
    await stream.until((s) => s.named('presence').length === 2, 'Ada joining')
    expect(JSON.parse(stream.named('presence')[1].data)).toEqual({
      people: [{ name: 'Ada', color: '#30bced' }],
      joined: ['Ada'],
      left: [],
    })
    for (let i = 0; i < 5; i++) ada.provider.awareness.setLocalStateField('cursor', { anchor: i, head: i })
    const bob = t.client(url, 'people')
    bob.provider.awareness.setLocalStateField('user', { name: 'Bob' })
    await stream.until((s) => s.named('presence').length === 3, 'Bob joining')
    // The cursor moves sent nothing: the next presence is Bob's.
    expect(JSON.parse(stream.named('presence')[2].data)).toEqual({
      people: [
        { name: 'Ada', color: '#30bced' },
        { name: 'Bob', color: null },
      ],
      joined: ['Bob'],
      left: [],
    })
    ada.provider.awareness.setLocalStateField('user', { name: 'Ada L', color: '#30bced' })
    await stream.until((s) => s.named('presence').length === 4, 'Ada renaming')
    expect(JSON.parse(stream.named('presence')[3].data)).toMatchObject({ joined: ['Ada L'], left: ['Ada'] })
    ada.destroy()
    await stream.until((s) => s.named('presence').length === 5, 'Ada leaving')
    expect(JSON.parse(stream.named('presence')[4].data)).toEqual({
      people: [{ name: 'Bob', color: null }],
      joined: [],
      left: ['Ada L'],
    })
  })

  it('writes a keep-alive comment every feedKeepAliveMs', async () => {
    const { port } = await t.start({ feedKeepAliveMs: 20 })
    const stream = await openFeed(port, 'quiet')
    await stream.until((s) => s.comments.filter((c) => c === 'keep-alive').length >= 3, 'three keep-alives')
  })

  it('counts streams and events in /metrics, and shutdown ends every stream', async () => {
    const server = await t.start()
    const writer = t.client(server.url, 'counted')
    await synced(writer)
    const streams = [await openFeed(server.port, 'counted'), await openFeed(server.port, 'counted')]
    for (const stream of streams) await stream.until((s) => s.named('presence').length === 1, 'the start')
    writer.doc.getText('codemirror').insert(0, 'x')
    for (const stream of streams) await stream.until((s) => s.named('change').length === 1, 'the change')
    const families = parsePrometheusText(
      await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text(),
    )
    expect(families.get('tandem_feed_subscribers')!.samples[0].value).toBe(2)
    const events = families.get('tandem_feed_events_total')!.samples
    expect(events.find((s) => s.labels.kind === 'change')!.value).toBe(2)
    expect(events.find((s) => s.labels.kind === 'reset')!.value).toBe(2)

    await server.server.close()
    for (const stream of streams) {
      await stream.until((s) => s.ended, 'the stream to end')
      expect(stream.response.complete).toBe(true)
    }
  })
})
