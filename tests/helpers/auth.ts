/**
 * Test helpers for access control: a fixed secret, tokens signed with it, upgrades whose refusal
 * (status and one-line body) is read back, and JSON calls to the access API.
 */
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'
import { signRoomToken } from '../../server/auth/tokens.ts'
import { type AccessLevel, MessageType, readAccess } from '../../shared/protocol/index.ts'

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop'

/** A token for `room` with `access`, valid for `ttlSeconds` from `now` (signed with SECRET unless given). */
export async function tokenFor(
  room: string,
  access: AccessLevel,
  options: { ttlSeconds?: number; now?: number; secret?: string } = {},
): Promise<{ token: string; jti: string }> {
  const { token, jti } = await signRoomToken(
    options.secret ?? SECRET,
    { room, access, ttlSeconds: options.ttlSeconds ?? 3600 },
    options.now,
  )
  return { token, jti }
}

/** How an upgrade ended: opened (the socket is closed again at once) or refused with status and body. */
export function tryUpgrade(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/${path}`, { headers, perMessageDeflate: false })
    ws.once('open', () => {
      ws.terminate()
      resolve({ status: 101, body: '' })
    })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }))
    })
    ws.once('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err)
    })
  })
}

/** Calls the access API on 127.0.0.1:`port`; `body` is sent as JSON. */
export async function api(
  port: number,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] ??= 'application/json'
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

/** The access levels in every `access` message (type 102) among `frames`, in order. */
export function accessMessages(frames: Uint8Array[]): AccessLevel[] {
  return frames
    .filter((frame) => frame[0] === MessageType.access)
    .map((frame) => {
      const decoder = decoding.createDecoder(frame)
      decoding.readVarUint(decoder)
      return readAccess(decoder)
    })
}
