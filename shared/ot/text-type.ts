/**
 * The OT type as one ottype-shaped object (name, uri, create, apply, transform, compose, normalize, invert...),
 * so generic OT tooling (ShareDB-style servers, ot-fuzzer) can drive it. Snapshots are Ropes;
 * `serialize`/`deserialize` turn them into plain strings for storage and comparison.
 */
import { apply, makeInvertible } from './apply.ts'
import { compose, invert } from './compose.ts'
import { checkOp, normalize, type TextOp } from './op.ts'
import { Rope } from './rope.ts'
import { type Side, transform, transformPosition, transformSelection } from './transform.ts'

/** Tandem's text OT type (UTF-16 units), in the ottypes interface. */
export const textType = {
  name: 'tandem-text',
  uri: 'https://tandem.dev/types/text-utf16/v1',
  /** A new snapshot holding `initial`. */
  create: (initial = ''): Rope => new Rope(initial),
  /** Applies `op` to the snapshot in place and returns it. */
  apply: (snapshot: Rope, op: TextOp): Rope => apply(snapshot, op),
  transform: (op: TextOp, other: TextOp, side: Side): TextOp => transform(op, other, side),
  compose,
  normalize,
  invert,
  checkOp,
  transformPosition,
  transformSelection,
  makeInvertible,
  /** The snapshot as a string (the stored and compared form). */
  serialize: (snapshot: Rope): string => snapshot.toString(),
  /** A snapshot from its serialized string. */
  deserialize: (data: string): Rope => new Rope(data),
}
