/**
 * A text delta on the wire and in the store (PROTOCOL.md, "The document over HTTP"): what a change
 * did to a room's text, as Quill-style runs without attributes.
 *
 *   delta = [run*]                 applied left to right from index 0; the rest is unchanged
 *   run   = {"retain": N}          keep N units
 *         | {"delete": N}          delete N units
 *         | {"insert": "text"}     insert the text
 *
 * Every N counts UTF-16 code units. The server computes them (server/rooms/text-deltas.ts), the
 * change feed and the live page apply them (client/src/live/text-delta.ts).
 */

/** One run of a delta. */
export type TextRun = { readonly retain: number } | { readonly insert: string } | { readonly delete: number }

/** A change's runs over the text; empty when the change did not touch it. */
export type TextDelta = readonly TextRun[]
