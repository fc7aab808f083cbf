/**
 * The budget for the text items a room's text deltas walk on a sender's behalf
 * (rooms/text-deltas.ts: edits far apart in a long text walk the text between them, 15-50 ns an
 * item). One budget per WebSocket connection (ws/connection.ts) and per address for HTTP writes
 * (http/document-writes.ts): 1,000,000 items a second, 2-5% of a core. Typing, even by several
 * people far apart, walks a few items per keystroke; the burst walks the largest text the quota
 * allows (about 150,000 items) 26 times.
 */
export const TEXT_WALK_PER_SECOND = 1_000_000
export const TEXT_WALK_BURST = 4_000_000
