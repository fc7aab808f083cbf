/**
 * WebSocket close codes the relay uses. 1xxx are RFC 6455's; 4xxx are Tandem's own, one per kind of
 * peer error, modelled on HTTP statuses so they read naturally in logs. As stock y-websocket
 * providers (3.x) read them: 4400-4499 are permanent (the provider stops reconnecting and emits
 * `closed`), 4500-4599 are "try again later" (it reconnects with backoff and resyncs).
 */
export const CloseCode = {
  /** The server is shutting down; a client should reconnect (to this or another instance). */
  serviceRestart: 1012,
  /** The room could not be loaded or the server failed internally; not the peer's fault. */
  internalError: 1011,
  /**
   * A frame larger than the peer's maxPayload (what `ws` sends by itself). The Tandem server never
   * sends it: a frame past its limit closes with `limitExceeded` (4413), as the quota (stock providers
   * do not reconnect after a 44xx code, and retried a 1009 forever).
   */
  messageTooBig: 1009,
  /** Bytes that do not parse as a protocol message: bad varint, truncated, trailing bytes, bad sub-type. */
  malformedMessage: 4400,
  /** The connection's token expired during the session; get a new link. */
  tokenExpired: 4401,
  /** The connection is not allowed to do what the message asks (for example a write on a view link). */
  forbidden: 4403,
  /**
   * A document update with structs of a Yjs client id the room has bound to another identity (the
   * connection would write under someone else's name, PROTOCOL.md "History and authorship"). Nothing
   * of it is applied.
   */
  authorMismatch: 4409,
  /** A well-formed frame whose top-level message type the server does not know. */
  unknownMessageType: 4404,
  /** The token this connection was opened with has been revoked by an admin of the room. */
  revoked: 4410,
  /** A text frame: the protocol is binary only. */
  textFrame: 4415,
  /**
   * A message or the document it would grow exceeds a configured limit (document quota, structs,
   * client ids, subdocuments, delete-set work, awareness state size or depth). The reason names it.
   */
  limitExceeded: 4413,
  /** A document update (or awareness update) that is structurally invalid or that the CRDT could not apply. */
  invalidUpdate: 4422,
  /**
   * An update that depends on changes the server does not have (Yjs would keep it pending). The
   * client reconnects and its sync step 2 brings what was missing.
   */
  needsResync: 4509,
  /** The connection sends more than its share (awareness or sync requests per second); retry later. */
  rateLimited: 4529,
  /**
   * The connection sent no sync message within the server's sync deadline (stock clients send sync
   * step 1 as soon as they connect); it may reconnect.
   */
  syncTimeout: 4508,
  /** The connection did not read what the server sent it; its backlog passed the bound. */
  slowReader: 4408,
} as const

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]

/** The name of a close code, for logs and error messages. */
export function closeCodeName(code: number): string {
  for (const [name, value] of Object.entries(CloseCode)) if (value === code) return name
  return `close-${code}`
}
