/** Named errors of the OT module: each one means the caller passed something it must not. */

/** An operation breaks the grammar in `op.ts` (bad component, empty insert, adjacent retains...). */
export class InvalidOpError extends Error {
  override readonly name = 'InvalidOpError'
}

/** An operation does not fit the document it is applied to (it retains or deletes past the end). */
export class OpDoesNotFitError extends Error {
  override readonly name = 'OpDoesNotFitError'
}

/** A session message breaks the protocol (unknown revision, gap in the revision sequence...). */
export class SessionProtocolError extends Error {
  override readonly name = 'SessionProtocolError'
}

/** A concurrent history cannot be replayed through a central server in the order it was given. */
export class UnlinearizableHistoryError extends Error {
  override readonly name = 'UnlinearizableHistoryError'
}
