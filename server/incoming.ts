/**
 * The boundary: every frame a client sends is decoded and structurally validated here, before any
 * of it reaches a document. Produces one typed message per frame or throws a PeerError naming what
 * is wrong. (Whether an update applies is checked by Yjs when the room applies it.)
 */
import * as decoding from 'lib0/decoding'
import { CloseCode, MessageType, SyncType } from '../shared/protocol/index.ts'
import { PeerError } from './errors.ts'

export type IncomingMessage =
  | { kind: 'syncStep1'; stateVector: Uint8Array }
  | { kind: 'syncStep2'; update: Uint8Array }
  | { kind: 'syncUpdate'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'queryAwareness' }

/** Decodes one binary frame; throws PeerError(malformedMessage | unknownMessageType) on bad input. */
export function decodeIncoming(frame: Uint8Array): IncomingMessage {
  const decoder = decoding.createDecoder(frame)
  try {
    const message = readMessage(decoder)
    // lib0 reads sub-arrays as views without checking the end: a length past the frame shows up here.
    if (decoder.pos > frame.length) throw malformed('truncated message')
    if (decoder.pos < frame.length) throw malformed(`${frame.length - decoder.pos} trailing bytes`)
    return message
  } catch (err) {
    if (err instanceof PeerError) throw err
    throw malformed(err instanceof Error ? err.message : String(err), err)
  }
}

function readMessage(decoder: decoding.Decoder): IncomingMessage {
  const type = decoding.readVarUint(decoder)
  switch (type) {
    case MessageType.sync: {
      const syncType = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      switch (syncType) {
        case SyncType.step1:
          return { kind: 'syncStep1', stateVector: payload }
        case SyncType.step2:
          return { kind: 'syncStep2', update: payload }
        case SyncType.update:
          return { kind: 'syncUpdate', update: payload }
        default:
          throw malformed(`unknown sync message type ${syncType}`)
      }
    }
    case MessageType.awareness:
      return { kind: 'awareness', update: decoding.readVarUint8Array(decoder) }
    case MessageType.queryAwareness:
      return { kind: 'queryAwareness' }
    default:
      throw new PeerError(CloseCode.unknownMessageType, `unknown message type ${type}`)
  }
}

function malformed(reason: string, cause?: unknown): PeerError {
  return new PeerError(CloseCode.malformedMessage, reason, { cause })
}
