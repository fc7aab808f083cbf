/**
 * Messages between OT clients and the OT server (in-process objects; a transport would JSON-encode them).
 *
 *   client -> server   hello  {client, revision}             (re)connected: send me every op after `revision`
 *                      submit {client, seq, revision, op}    `op` applies to server revision `revision`
 *   server -> client   op     {revision, op, client, seq}    log entry `revision` (takes the doc to revision+1);
 *                                                            the author treats its own entry as the ack
 *
 * A link delivers in order (as a WebSocket does) but may break; on reconnect the client says hello and
 * resubmits its unacknowledged op, and the server drops a resubmission it has already applied (same seq).
 */
import type { TextOp } from './op.ts'

/** A (re)connected client asks for the log after `revision`. */
export interface HelloMessage {
  type: 'hello'
  client: string
  revision: number
}

/** A client's op, its `seq`-th, based on server revision `revision`. */
export interface SubmitMessage {
  type: 'submit'
  client: string
  seq: number
  revision: number
  op: TextOp
}

/** What a client sends. */
export type ClientMessage = HelloMessage | SubmitMessage

/** Log entry `revision`, authored by `client` as its `seq`-th op; sent to every connected client. */
export interface OpMessage {
  type: 'op'
  revision: number
  op: TextOp
  client: string
  seq: number
}

/** What the server sends. */
export type ServerMessage = OpMessage
