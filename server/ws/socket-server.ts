/**
 * The relay's `ws` server: handshakes only (`noServer`; upgrade.ts decides who gets one), frames up
 * to `maxPayload`, no compression. A frame past `maxPayload` is refused as the document quota
 * refuses (4413), not with `ws`' own 1009: stock y-websocket providers treat 1009 as transient and
 * resend the same update forever, while 4413 stops them. The frame limit is at least the quota plus
 * framing (config.ts), so such a frame could never fit the document anyway.
 *
 * How: on "Max payload size exceeded" `ws`' receiver calls `websocket.close(1009)` and then emits
 * `error` (lib/websocket.js `receiverOnError`); the socket class below turns that 1009 into 4413
 * with a reason naming the quota. Connection logs and counts it on the `error` that follows
 * (`isFrameTooBig`).
 */
import { WebSocket, WebSocketServer } from 'ws'
import { CloseCode } from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'
import type { ServerConfig } from '../config/config.ts'

/** The options the frame limit reads. */
export type FrameLimits = Pick<ServerConfig, 'maxPayload' | 'maxDocumentBytes'>

/** The `ws` error codes of a frame or message past `maxPayload` (sent by `ws` with 1009). */
const TOO_BIG_CODES = new Set(['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'])

/** The refusal a frame past the frame limit gets (close code 4413, reason naming the quota). */
export function frameTooBigRefusal(limits: FrameLimits): PeerError {
  return new PeerError(
    CloseCode.limitExceeded,
    `a frame over ${limits.maxPayload} bytes cannot fit the document quota of ${limits.maxDocumentBytes} bytes`,
  )
}

/** True for the `error` a socket emits after `ws` refused a frame past `maxPayload`. */
export function isFrameTooBig(err: Error): boolean {
  return TOO_BIG_CODES.has((err as NodeJS.ErrnoException).code ?? '')
}

/** A `ws` server for the relay's upgrades (see the module comment). */
export function createSocketServer(limits: FrameLimits): WebSocketServer {
  const refusal = frameTooBigRefusal(limits)
  class QuotaWebSocket extends WebSocket {
    override close(code?: number, data?: string | Buffer): void {
      // Only ws' receiver closes with 1009 (the relay never does): a frame past maxPayload.
      if (code === CloseCode.messageTooBig) super.close(refusal.code, refusal.description)
      else super.close(code, data)
    }
  }
  return new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayload,
    perMessageDeflate: false,
    WebSocket: QuotaWebSocket,
  }) as unknown as WebSocketServer
}
