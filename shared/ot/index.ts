/**
 * Public surface of Tandem's OT module: the text op type and its rope, and the session layer that runs it
 * between sites (the ot.js client/server pair, Jupiter links, and the concurrent-trace replay built on them).
 * The session layer serves the comparison tests and benchmarks; the editor and relay use Yjs (docs/ot.md),
 * and the relay rebases HTTP text edits made at an old version with `rebaseEdit` (rebase.ts).
 */
export { apply, makeInvertible } from './apply.ts'
export { type ClientState, OTClient } from './client.ts'
export { compose, invert } from './compose.ts'
export { type ConcurrentHistory, type ReplayResult, replayConcurrentOT } from './concurrent-replay.ts'
export {
  InvalidOpError,
  OpDoesNotFitError,
  SessionProtocolError,
  UnlinearizableHistoryError,
} from './errors.ts'
export { type JupiterMessage, JupiterSite } from './jupiter-link.ts'
export {
  baseLength,
  type Component,
  checkOp,
  type Delete,
  deleteOp,
  insertOp,
  isInvertible,
  normalize,
  spliceOp,
  type TextOp,
} from './op.ts'
export {
  type Delta,
  type DeltaRun,
  deltaToOp,
  isHighSurrogate,
  isLowSurrogate,
  lengthChange,
  opBoundaries,
  opFitProblem,
  opToDelta,
  type RebasedEdit,
  rebaseEdit,
  splitsSurrogatePair,
  type TextEdit,
} from './rebase.ts'
export { Rope } from './rope.ts'
export { OTServer, type Outgoing } from './server.ts'
export type {
  ClientMessage,
  HelloMessage,
  OpMessage,
  ServerMessage,
  SubmitMessage,
} from './session-messages.ts'
export { textType } from './text-type.ts'
export { type Side, transform, transformPosition, transformSelection } from './transform.ts'
