/**
 * A refusal of an HTTP API request: its status, a stable kind (`code`) and a one-line reason, sent
 * as `{error, code}` (ApiErrorResponse, PROTOCOL.md's tables). Thrown inside a route, answered by
 * `sendApiError` where the route is dispatched.
 */
import type { ServerResponse } from 'node:http'
import type { ApiErrorResponse } from '../../shared/protocol/index.ts'
import { sendJson } from './http-routes.ts'

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, sent as Retry-After (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}

/** Answers `res` with `err` as JSON (headers not yet sent). */
export function sendApiError(res: ServerResponse, err: ApiError): void {
  if (err.retryAfter !== undefined) res.setHeader('retry-after', String(err.retryAfter))
  sendJson(res, err.status, { error: err.message, code: err.code } satisfies ApiErrorResponse)
}
