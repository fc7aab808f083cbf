/**
 * PeerError, and the server's errors by kind: each class says what went wrong and where it ends.
 * Every one sets `name` to its class name (`override readonly name = 'PeerError'`).
 *
 *   PeerError          bad input from one connection: closes only that connection with its close code
 *                      and a log line naming connection and room; never propagates further
 *   ProtocolError      a frame that is not a protocol message, `malformed` or `unknownType`
 *                      (shared/protocol/messages.ts) -> PeerError 4400 / 4404
 *   UpdateShapeError   an update refused while reading it, `malformed` or over a `limit`
 *                      (update-shape.ts) -> PeerError 4422 / 4413
 *   UpdateRefusal      an update refused against the document, over a `limit` or `pending` on what
 *                      the room lacks (update-admission.ts) -> PeerError 4413 / 4509
 *   BusMessageError    a frame from another instance that does not parse: dropped and logged
 *                      (fanout/bus-message.ts)
 *   StoreOpenError     the database cannot be opened: one line an operator can act on
 *                      (store/store-open-error.ts)
 *   ApiError           an access-API refusal: HTTP status and stable `code` (http/access-api.ts)
 *   RoomUnloadedError  a server write (HTTP) to a room that unloaded before it was durable
 *                      (rooms/room-changes.ts) -> 503
 *   OptionValueError   a flag or environment variable with a bad value: printed, exit 2 (main.ts)
 *   TypeError          the caller misused the server's API (contradictory options, bad arguments)
 */
import { type CloseCodeValue, closeCodeName } from '../../shared/protocol/index.ts'

/** A peer broke the protocol; close its connection with `code`. */
export class PeerError extends Error {
  override readonly name = 'PeerError'
  constructor(
    readonly code: CloseCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  /** e.g. "malformedMessage: truncated message" */
  get description(): string {
    return `${closeCodeName(this.code)}: ${this.message}`
  }
}
