/**
 * The boundary: every frame a client sends is decoded (shared/protocol's `readClientMessage`) and
 * structurally validated here, before any of it reaches a document. Produces one typed message per
 * frame or throws a PeerError naming what is wrong. (What an update or awareness update contains is
 * bounded next, by the room: admission/update-shape.ts, update-admission.ts, awareness-shape.ts.)
 */
import * as decoding from 'lib0/decoding'
import {
  type ClientMessage,
  CloseCode,
  ProtocolError,
  readClientMessage,
} from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'

export type IncomingMessage = ClientMessage

/** Decodes one binary frame; throws PeerError(malformedMessage | unknownMessageType) on bad input. */
export function decodeIncoming(frame: Uint8Array): IncomingMessage {
  const decoder = decoding.createDecoder(frame)
  try {
    const message = readClientMessage(decoder)
    // lib0 reads sub-arrays as views without checking the end: a length past the frame shows up here.
    if (decoder.pos > frame.length) throw malformed('truncated message')
    if (decoder.pos < frame.length) throw malformed(`${frame.length - decoder.pos} trailing bytes`)
    return message
  } catch (err) {
    if (err instanceof PeerError) throw err
    if (err instanceof ProtocolError && err.kind === 'unknownType') {
      throw new PeerError(CloseCode.unknownMessageType, err.message)
    }
    throw malformed(err instanceof Error ? err.message : String(err), err)
  }
}

function malformed(reason: string, cause?: unknown): PeerError {
  return new PeerError(CloseCode.malformedMessage, reason, { cause })
}
