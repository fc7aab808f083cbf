/**
 * The two wire dialects the load generator speaks. `y` is the y-websocket protocol (one document
 * per socket, the room in the URL path), spoken by Tandem, both y-websocket servers and the raw relay.
 * `hocuspocus` is Hocuspocus v4's: every message starts with varString(documentName), and a
 * connection opens with an auth message before anything else:
 *
 *   hocuspocusMessage = varString(documentName) yMessage
 *   auth              = varString(documentName) 2 0 varString(token) varString(providerVersion)
 *   replies also carry 2 (auth: 2 Authenticated | 1 PermissionDenied), 4 SyncReply, 8 SyncStatus...
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { MessageType, SyncType } from '../../shared/protocol/index.ts'

export type Dialect = 'y' | 'hocuspocus'

/** y-protocols message types (shared/protocol), plus Hocuspocus' own sync reply (4). */
const YMessage = { ...MessageType, syncReply: 4 } as const
/** Sync sub-types, as in shared/protocol. */
export const YSync = SyncType

/** The provider version the Hocuspocus auth message announces (the installed provider's). */
const HOCUSPOCUS_PROVIDER_VERSION = '4.8.0'

/** WebSocket URL for a room of a server at `base` (ws://host:port). */
export function roomUrl(dialect: Dialect, base: string, room: string): string {
  return dialect === 'y' ? `${base}/${room}` : `${base}/`
}

/** Frames a y-websocket message for the dialect (prefixing the document name for Hocuspocus). */
export function frame(
  dialect: Dialect,
  room: string,
  write: (encoder: encoding.Encoder) => void,
): Uint8Array {
  const encoder = encoding.createEncoder()
  if (dialect === 'hocuspocus') encoding.writeVarString(encoder, room)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** The messages a client sends first: Hocuspocus' auth (empty token), then sync step 1. */
export function openingFrames(dialect: Dialect, room: string, stateVector: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = []
  if (dialect === 'hocuspocus') {
    frames.push(
      frame(dialect, room, (e) => {
        encoding.writeVarUint(e, YMessage.auth)
        encoding.writeVarUint(e, 0)
        encoding.writeVarString(e, '')
        encoding.writeVarString(e, HOCUSPOCUS_PROVIDER_VERSION)
      }),
    )
  }
  frames.push(syncFrame(dialect, room, YSync.step1, stateVector))
  return frames
}

export function syncFrame(dialect: Dialect, room: string, syncType: number, payload: Uint8Array): Uint8Array {
  return frame(dialect, room, (e) => {
    encoding.writeVarUint(e, YMessage.sync)
    encoding.writeVarUint(e, syncType)
    encoding.writeVarUint8Array(e, payload)
  })
}

export function awarenessFrame(dialect: Dialect, room: string, update: Uint8Array): Uint8Array {
  return frame(dialect, room, (e) => {
    encoding.writeVarUint(e, YMessage.awareness)
    encoding.writeVarUint8Array(e, update)
  })
}

/** A received message, decoded only as far as the generator needs. */
export type Received =
  | { kind: 'sync'; syncType: number; payload: Uint8Array }
  | { kind: 'awareness' }
  | { kind: 'other'; type: number }

/** Decodes the head of a received frame (after Hocuspocus' document name). */
export function readReceived(dialect: Dialect, data: Uint8Array): Received {
  const decoder = decoding.createDecoder(data)
  if (dialect === 'hocuspocus') decoding.readVarString(decoder)
  const type = decoding.readVarUint(decoder)
  if (type === YMessage.sync || type === YMessage.syncReply) {
    const syncType = decoding.readVarUint(decoder)
    return { kind: 'sync', syncType, payload: decoding.readVarUint8Array(decoder) }
  }
  if (type === YMessage.awareness) return { kind: 'awareness' }
  return { kind: 'other', type }
}
