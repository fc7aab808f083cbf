/**
 * The wire protocol between Tandem's relay and its clients: the y-websocket protocol
 * (y-protocols sync + awareness + query-awareness) plus opt-in extensions: `saved`, `storage`, `access`.
 *
 * Grammar (all integers are lib0 varUints, `bytes` is a varUint length followed by that many bytes,
 * `string` a varUint length followed by that many bytes of UTF-8):
 *
 *   message        = sync | awareness | queryAwareness | saved | storage | access
 *   sync           = 0 syncStep1 | 0 syncStep2 | 0 syncUpdate
 *   syncStep1      = 0 bytes(stateVector)
 *   syncStep2      = 1 bytes(update)
 *   syncUpdate     = 2 bytes(update)
 *   awareness      = 1 bytes(awarenessUpdate)
 *   queryAwareness = 3
 *   saved          = 100 bytes(stateVector)        server -> client, only to clients that opted in
 *                                                  (state-vector entries; the client keeps the max)
 *   storage        = 101 varUint(StorageState)     server -> client, only to clients that opted in
 *   access         = 102 string(AccessLevel)       server -> client, only to clients that opted in:
 *                                                  'view' | 'edit' | 'admin', the effective access
 *
 * One message per binary WebSocket frame; trailing bytes are an error. See PROTOCOL.md for the
 * sequence of messages and the guarantees behind `saved`.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Top-level message types (first varUint of every frame). 0-3 are y-websocket's. */
export const MessageType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  /** Tandem extension: the server's durable state vector. Sent only to clients that opt in. */
  saved: 100,
  /** Tandem extension: whether the server can currently save changes. Sent only to clients that opt in. */
  storage: 101,
  /** Tandem extension: the connection's effective access, after join and on every change. Opt-in. */
  access: 102,
} as const

/** What a connection may do in its room: read, read and write, or also share, revoke and set the mode. */
export type AccessLevel = 'view' | 'edit' | 'admin'

/** Every access level, weakest first. */
export const ACCESS_LEVELS: readonly AccessLevel[] = ['view', 'edit', 'admin']

/** True when `value` is an access level. */
export const isAccessLevel = (value: unknown): value is AccessLevel =>
  typeof value === 'string' && (ACCESS_LEVELS as readonly string[]).includes(value)

/** Payload of a `storage` message. */
export const StorageState = {
  /** Writes succeed; changes are being saved. */
  ok: 0,
  /** Writes are failing (disk full, database error); changes are kept in memory and retried. */
  failing: 1,
} as const

export type StorageStateValue = (typeof StorageState)[keyof typeof StorageState]

/** Sub-types of a sync message, as in y-protocols/sync. */
export const SyncType = { step1: 0, step2: 1, update: 2 } as const

/** Query parameter with which a Tandem client opts in to the `saved` extension: `?tandem=1`. */
export const TANDEM_EXTENSIONS_PARAM = 'tandem'

/** Encodes a `saved` message carrying the server's committed state vector. */
export function encodeSaved(stateVector: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.saved)
  encoding.writeVarUint8Array(encoder, stateVector)
  return encoding.toUint8Array(encoder)
}

/** Reads the payload of a `saved` message whose type varUint has already been read. */
export function readSaved(decoder: decoding.Decoder): Uint8Array {
  return decoding.readVarUint8Array(decoder)
}

/** Encodes a `storage` message: whether the server can currently save changes. */
export function encodeStorage(state: StorageStateValue): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.storage)
  encoding.writeVarUint(encoder, state)
  return encoding.toUint8Array(encoder)
}

/** Reads the payload of a `storage` message whose type varUint has already been read. */
export function readStorage(decoder: decoding.Decoder): StorageStateValue {
  return decoding.readVarUint(decoder) === StorageState.failing ? StorageState.failing : StorageState.ok
}

/** Encodes an `access` message: the connection's effective access from now on. */
export function encodeAccess(access: AccessLevel): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.access)
  encoding.writeVarString(encoder, access)
  return encoding.toUint8Array(encoder)
}

/**
 * Reads the payload of an `access` message whose type varUint has already been read; throws
 * ProtocolError('malformed') for anything but 'view', 'edit' or 'admin'.
 */
export function readAccess(decoder: decoding.Decoder): AccessLevel {
  const value = decoding.readVarString(decoder)
  if (!isAccessLevel(value))
    throw new ProtocolError('malformed', `unknown access level "${value.slice(0, 20)}"`)
  return value
}

function encodeSync(syncType: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.sync)
  encoding.writeVarUint(encoder, syncType)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

/** Encodes sync step 1: the sender's state vector (`Y.encodeStateVector`). */
export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array =>
  encodeSync(SyncType.step1, stateVector)

/** Encodes sync step 2: an update holding what the receiver lacks. */
export const encodeSyncStep2 = (update: Uint8Array): Uint8Array => encodeSync(SyncType.step2, update)

/** Encodes a sync update message. */
export const encodeSyncUpdate = (update: Uint8Array): Uint8Array => encodeSync(SyncType.update, update)

/** Encodes an awareness message around a y-protocols awareness update. */
export function encodeAwareness(awarenessUpdate: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.awareness)
  encoding.writeVarUint8Array(encoder, awarenessUpdate)
  return encoding.toUint8Array(encoder)
}

/** A message a client sends, as read by `readClientMessage`. */
export type ClientMessage =
  | { kind: 'syncStep1'; stateVector: Uint8Array }
  | { kind: 'syncStep2'; update: Uint8Array }
  | { kind: 'syncUpdate'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'queryAwareness' }

/** Why a frame is not a protocol message: bytes that do not parse, or an unknown message type. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  constructor(
    readonly kind: 'malformed' | 'unknownType',
    message: string,
  ) {
    super(message)
  }
}

/**
 * Reads one client message (the counterpart of `encodeSyncStep1` … `encodeAwareness`, and of what
 * y-websocket providers send). Throws ProtocolError for an unknown type or sync sub-type; lib0
 * throws for truncated varints. The caller checks that the frame ends where the message does.
 */
export function readClientMessage(decoder: decoding.Decoder): ClientMessage {
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
          throw new ProtocolError('malformed', `unknown sync message type ${syncType}`)
      }
    }
    case MessageType.awareness:
      return { kind: 'awareness', update: decoding.readVarUint8Array(decoder) }
    case MessageType.queryAwareness:
      return { kind: 'queryAwareness' }
    default:
      throw new ProtocolError('unknownType', `unknown message type ${type}`)
  }
}
