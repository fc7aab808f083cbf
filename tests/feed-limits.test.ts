/**
 * Bounds on the change feed: streams per room (`maxFeedsPerRoom`), streams counted with WebSockets
 * per address and in total (429 / 503 as JSON {error, code}), a stream leaving the plain HTTP
 * socket limits as an upgraded socket does, and a slow consumer closed once its unsent output
 * passes `maxFeedBufferBytes`, then resumed without losing a change.
 */
import { describe, expect, it } from 'vitest'
import { tryUpgrade } from './helpers/auth.ts'
import { type EventStream, feedOpener } from './helpers/event-stream.ts'
import { parsePrometheusText } from './helpers/prometheus-text.ts'
import { cleanupAfterEach, synced, tracked, waitFor } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const t = tracked(cleanups)

const openFeed = feedOpener(cleanups)

/** Opens a stream that must be refused; resolves with its status and JSON body. */
async function refused(
  port: number,
  room: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/rooms/${room}/events`)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const started = (stream: EventStream) =>
  stream.until((s) => s.named('presence').length === 1, 'the stream to start')

async function feedClosed(port: number, reason: string): Promise<number> {
  const families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
  return families.get('tandem_feed_closed_total')!.samples.find((s) => s.labels.reason === reason)!.value
}

describe('change feed limits', () => {
  it('takes at most maxFeedsPerRoom streams on one room (503), other rooms still', async () => {
    const { port } = await t.start({ maxFeedsPerRoom: 2 })
    const first = await openFeed(port, 'busy')
    await openFeed(port, 'busy')
    expect(await refused(port, 'busy')).toMatchObject({ status: 503, body: { code: 'unavailable' } })
    await started(await openFeed(port, 'quiet'))
    first.close()
    await waitFor(async () => {
      const again = await openFeed(port, 'busy')
      if (again.status === 200) return true
      again.close()
      return false
    }, 'a place on the room once a stream left')
  })

  it('counts streams with WebSockets per address (429) and in total (503)', async () => {
    const perAddress = await t.start({ maxConnectionsPerIp: 2 })
    const client = t.client(perAddress.url, 'mixed')
    await synced(client)
    await started(await openFeed(perAddress.port, 'mixed'))
    expect(await refused(perAddress.port, 'mixed')).toMatchObject({
      status: 429,
      body: { code: 'rate_limited' },
    })
    expect((await tryUpgrade(perAddress.url, 'mixed')).status).toBe(429)

    const total = await t.start({ maxConnections: 1 })
    const only = await openFeed(total.port, 'one')
    await started(only)
    expect(await refused(total.port, 'two')).toMatchObject({ status: 503, body: { code: 'unavailable' } })
    expect((await tryUpgrade(total.url, 'two')).status).toBe(503)
    only.close()
    await waitFor(
      async () => (await tryUpgrade(total.url, 'two')).status === 101,
      'the stream to be uncounted',
    )
  })

  it('a stream no longer counts as a plain HTTP socket, as an upgraded one does not', async () => {
    const { port } = await t.start({ maxHttpConnections: 2 })
    for (let i = 0; i < 4; i++) await started(await openFeed(port, `room-${i}`))
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
  })

  it('closes a consumer that stops reading once its unsent output passes maxFeedBufferBytes; it resumes losing nothing', async () => {
    const { port, url } = await t.start({ maxFeedBufferBytes: 64 * 1024 })
    const writer = t.client(url, 'slow')
    await synced(writer)
    const text = writer.doc.getText('codemirror')
    const slow = await openFeed(port, 'slow')
    await started(slow)
    slow.pause()
    // Each change is a 100 kB event: the kernel's buffers take some megabytes, then the server's fill.
    for (let i = 0; (await feedClosed(port, 'slow')) === 0; i++) {
      expect(i, 'the slow stream to be closed').toBeLessThan(300)
      text.insert(text.length, String(i % 10).repeat(100_000))
      await waitFor(async () => {
        const meta = (await (await fetch(`http://127.0.0.1:${port}/api/rooms/slow`)).json()) as {
          length: number
        }
        return meta.length === text.length
      }, 'the change to be committed')
    }
    slow.resume()
    await slow.until((s) => s.ended, 'the slow stream to end')
    const resumed = await openFeed(port, 'slow', { 'last-event-id': slow.lastEventId })
    text.insert(0, 'and after ')
    await resumed.until(
      (s) => s.text(slow.text()) === text.toString(),
      'the resumed stream to catch up',
      30_000,
    )
    expect(resumed.named('reset')).toEqual([])
  })
})
