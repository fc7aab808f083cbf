/** Public surface of Tandem's OT module: the text op type, its rope, and the client/server session layer. */
export { apply, makeInvertible } from './apply.ts'
export { compose, invert } from './compose.ts'
export {
  InvalidOpError,
  OpDoesNotFitError,
  SessionProtocolError,
  UnlinearizableHistoryError,
} from './errors.ts'
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
export { Rope } from './rope.ts'
export { textType } from './text-type.ts'
export { type Side, transform, transformPosition, transformSelection } from './transform.ts'
