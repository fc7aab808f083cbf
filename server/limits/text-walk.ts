/**
 * The budget for the text items a room's text deltas walk on a sender's behalf
 * (rooms/text-deltas.ts: edits far apart in a long text walk the text between them, 15-50 ns an
 * item). One budget per WebSocket connection (ws/connection.ts) and per address for HTTP writes
 * (http/document-writes.ts): 1,000,000 items a second, 2-5% of a core. Typing, even by several
 * people far apart, walks a few items per keystroke; the burst walks the largest text the quota
 * allows (about 150,000 items) 26 times.
 *
 * Costly HTTP reads draw on the same per-address budget (http/write-gate.ts `readBudget`): `GET
 * …/authors` the items it walks (about 200 ns each, its JSON included), a version's text or a diff
 * one item per READ_UNITS_PER_ITEM units of the texts it rebuilds or compares (a 1 MiB version's
 * rebuild is about 80 ms of work: 500,000 items at this rate), so one address cannot keep the event
 * loop busy by repeating them.
 */
export const TEXT_WALK_PER_SECOND = 1_000_000
export const TEXT_WALK_BURST = 4_000_000

/**
 * Runs the synchronous part of a write, where the room applies it, charging the text items its
 * delta walked to the writer (http/write-gate.ts makes one per address).
 */
export type Meter = <T>(apply: () => T) => T

/** UTF-16 units of a text a read rebuilds or compares, charged as one item. */
export const READ_UNITS_PER_ITEM = 2
