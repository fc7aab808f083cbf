/**
 * Bad input from the network: each kind is refused with its named close code, only the offending
 * connection closes, the server stays up, and a healthy client in another room keeps editing.
 */
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { CloseCode } from '../shared/protocol/index.ts'
import {
  connectClient,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'
import { seededTest } from './helpers/seed.ts'

let server: TestServer
let healthy: TestClient
let healthyPeer: TestClient
let edits = 0

beforeAll(async () => {
  server = await startServer({ maxDocumentBytes: 63 * 1024, maxPayload: 64 * 1024 })
  healthy = connectClient(server.url, 'healthy')
  healthyPeer = connectClient(server.url, 'healthy')
  await Promise.all([synced(healthy), synced(healthyPeer)])
})
afterAll(async () => {
  healthy.destroy()
  healthyPeer.destroy()
  await server.close()
})

/** The healthy pair still edits and converges. */
async function healthyStillWorks() {
  edits++
  healthy.text.insert(healthy.text.length, `${edits},`)
  await waitFor(
    () => healthyPeer.text.toString() === healthy.text.toString(),
    'the healthy room to keep syncing',
  )
}

/** Opens a raw socket to `room`, sends `frames`, and resolves with the close code the server chose. */
function sendAndAwaitClose(room: string, frames: Array<Uint8Array | string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url}/${room}`)
    ws.on('open', () => {
      for (const frame of frames) ws.send(frame, { binary: typeof frame !== 'string' })
    })
    ws.on('close', (code) => resolve(code))
    ws.on('error', reject)
  })
}

/** A frame of varUints and length-prefixed byte arrays, written in order. */
function frame(...parts: Array<number | Uint8Array | string>): Uint8Array {
  const encoder = encoding.createEncoder()
  for (const part of parts) {
    if (typeof part === 'number') encoding.writeVarUint(encoder, part)
    else if (typeof part === 'string') encoding.writeVarString(encoder, part)
    else encoding.writeVarUint8Array(encoder, part)
  }
  return encoding.toUint8Array(encoder)
}

const cases: Array<[string, Array<Uint8Array | string>, number]> = [
  ['a text frame', ['hello'], CloseCode.textFrame],
  ['an unknown message type', [frame(42)], CloseCode.unknownMessageType],
  ['the auth message type, which clients never send', [frame(2)], CloseCode.unknownMessageType],
  ['an empty frame', [new Uint8Array(0)], CloseCode.malformedMessage],
  ['a truncated varint', [new Uint8Array([0x80])], CloseCode.malformedMessage],
  [
    'an overflowing varint',
    [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])],
    CloseCode.malformedMessage,
  ],
  ['an unknown sync sub-type', [frame(0, 9, new Uint8Array(1))], CloseCode.malformedMessage],
  [
    'a sync update whose length runs past the frame',
    [new Uint8Array([0, 2, 50, 1, 2, 3])],
    CloseCode.malformedMessage,
  ],
  ['trailing bytes after a message', [new Uint8Array([3, 7, 7])], CloseCode.malformedMessage],
  [
    'an update Yjs cannot apply',
    [frame(0, 2, new Uint8Array([5, 200, 1, 7, 7, 7, 7]))],
    CloseCode.invalidUpdate,
  ],
  ['a state vector that does not decode', [frame(0, 0, new Uint8Array([5, 1]))], CloseCode.malformedMessage],
  // awareness: 1 entry, clientID 7, clock 1, state '{nope' (not JSON)
  ['an awareness update that is not JSON', [frame(1, frame(1, 7, 1, '{nope'))], CloseCode.invalidUpdate],
  // Past the frame limit no update could fit the quota: refused as the quota refuses, not with ws' 1009.
  ['a frame over maxPayload', [new Uint8Array(64 * 1024 + 1)], CloseCode.limitExceeded],
]

const KNOWN_CODES: number[] = Object.values(CloseCode)

/** Attempts a WebSocket upgrade to `path` and resolves with the HTTP status and body of the refusal. */
function upgradeStatus(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url}${path}`)
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => {
        body += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.on('open', () => reject(new Error(`upgrade to ${path} was accepted`)))
    ws.on('error', () => {})
  })
}

describe('malformed input', () => {
  for (const [what, frames, code] of cases) {
    it(`closes the connection that sent ${what} with ${code}`, async () => {
      expect(await sendAndAwaitClose('victim', frames)).toBe(code)
      await healthyStillWorks()
    })
  }

  seededTest('survives seeded random bytes, closing only the senders', async (gen) => {
    for (let i = 0; i < 40; i++) {
      const bytes = prng.uint8Array(gen, prng.int32(gen, 1, 64))
      // Half the cases look like sync messages, to get past the first byte.
      if (i % 2 === 0) bytes[0] = 0
      // The text frame after it closes the socket even if the random bytes happen to be valid.
      const code = await sendAndAwaitClose(`random-${i % 3}`, [bytes, 'end'])
      expect(KNOWN_CODES, `frame ${Buffer.from(bytes).toString('hex')}`).toContain(code)
    }
    await healthyStillWorks()
    const health = await (await fetch(`http://127.0.0.1:${server.port}/health`)).json()
    expect(health.status).toBe('ok')
  })

  it('refuses bad room names at the upgrade with 400 and a reason', async () => {
    for (const path of ['/', '/has%20space', '/..', '/.', `/${'x'.repeat(129)}`, '/a/b', '/%C3%A9']) {
      const { status, body } = await upgradeStatus(path)
      expect(status, path).toBe(400)
      expect(body, path).toMatch(/room name/)
    }
    await healthyStillWorks()
  })
})
