/**
 * Errors by kind. A PeerError is bad input from one connection: it closes that connection with its
 * close code and never propagates further. Misuse of the server's API throws ordinary TypeErrors.
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
