/**
 * One update larger than the frame limit (`maxPayload`, the document quota plus 1 KiB): `ws` would
 * close it with 1009, which stock y-websocket providers retry forever. The relay refuses it as the
 * quota does, 4413 with a reason naming the quota, counted as a quota refusal; other rooms and
 * connections go on.
 */
import { describe, expect, it } from 'vitest'
import type { ServerConfig } from '../server/index.ts'
import { CloseCode } from '../shared/protocol/index.ts'
import { longTextUpdate, syncStep1Frame, syncUpdateFrame } from './helpers/hostile.ts'
import { parsePrometheusText, sampleValue } from './helpers/prometheus-text.ts'
import { cleanupAfterEach, closeCodes, synced, tracked, waitFor } from './helpers/relay.ts'

const { start, client, raw } = tracked(cleanupAfterEach())

/** The quota the defect was found with (TANDEM_MAX_DOCUMENT_BYTES=16384): frames over 17,408 bytes. */
const QUOTA: Partial<ServerConfig> = { maxDocumentBytes: 16_384 }

describe('a frame past the frame limit', () => {
  it('is closed with 4413 naming the quota (not 1009), counted as a quota refusal', async () => {
    const server = await start(QUOTA)
    const healthy = client(server.url, 'healthy')
    await synced(healthy)
    const peer = raw(server.url, 'too-big')
    await peer.opened
    await peer.send(syncStep1Frame())
    const frame = syncUpdateFrame(longTextUpdate(7, 20_000))
    expect(frame.byteLength).toBeGreaterThan(server.server.config.maxPayload)
    await peer.send(frame)
    expect(await peer.closed).toBe(CloseCode.limitExceeded)
    expect(peer.closeReason).toContain('quota of 16384 bytes')
    // Counted when ws refused the frame, before the close frame went out.
    const metrics = parsePrometheusText(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text())
    expect(sampleValue(metrics, 'tandem_updates_refused_total', { reason: 'quota' })).toBe(1)
    healthy.text.insert(0, 'still here')
    const other = client(server.url, 'healthy')
    await waitFor(() => other.text.toString() === 'still here', 'the healthy room to keep syncing')
  })

  it('stops a stock provider with offline edits past the frame limit (no reconnect loop)', async () => {
    const server = await start(QUOTA)
    const editor = client(server.url, 'offline', { connect: false })
    editor.text.insert(0, 'o'.repeat(20_000))
    const codes = closeCodes(editor)
    editor.provider.connect()
    await waitFor(() => codes.length > 0, 'the editor to be closed')
    expect(codes).toEqual([CloseCode.limitExceeded])
    // y-websocket treats 4400-4499 as permanent: it does not reconnect.
    expect(editor.provider.shouldConnect).toBe(false)
  })
})
