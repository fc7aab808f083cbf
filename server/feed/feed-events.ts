/**
 * The change feed's events as `text/event-stream` text (PROTOCOL.md, "The change feed"):
 *
 *   event: change            event: reset                event: presence
 *   id: <change id>          id: <change id>             data: {"people", "joined", "left"}
 *   data: {"delta", "at",    data: {"text", "at",
 *          "author"}                "reason"}            event: version
 *                                                        data: VersionInfo
 *                                                        : keep-alive   (a comment)
 *
 * Each event is one string, encoded once and written as is to every stream that gets it. `data`
 * is one line of JSON: JSON.stringify escapes every line break inside strings, and a stored delta
 * (JSON the store gives back) is re-encoded if it holds a raw one.
 */

import type { SequencedChange } from '../rooms/change-log.ts'
import type { VersionInfo } from '../store/history-store.ts'
import type { StoredChange } from '../store/index.ts'

/** Why a stream starts from the full text: a fresh subscriber, missed changes no longer kept, or an id the room never reached. */
export type ResetReason = 'start' | 'expired' | 'unknown'

/** Someone in the room, as presence events list them. */
export interface Person {
  readonly name: string
  readonly color: string | null
}

/** The keep-alive comment (EventSource ignores it; proxies see traffic). */
export const KEEP_ALIVE = ': keep-alive\n\n'

function sseEvent(event: string, id: number | null, data: string): string {
  return id === null ? `event: ${event}\ndata: ${data}\n\n` : `event: ${event}\nid: ${id}\ndata: ${data}\n\n`
}

function changeData(deltaJson: string, at: number, author: string | null): string {
  const by = author === null ? 'null' : JSON.stringify({ name: author })
  return `{"delta":${deltaJson},"at":${at},"author":${by}}`
}

/** The `change` event of a committed change; null when it did not touch the text (the feed skips it). */
export function changeEvent(change: SequencedChange): string | null {
  if (change.delta.length === 0) return null
  return sseEvent('change', change.id, changeData(JSON.stringify(change.delta), change.at, change.author))
}

/**
 * The `change` event of a change read from the store; null when it did not touch the text.
 * Throws when its delta is not kept (null) or is not JSON.
 */
export function storedChangeEvent(change: StoredChange): string | null {
  let delta = change.delta
  if (delta === null) throw new Error(`change ${change.id} is stored without its delta`)
  if (/[\r\n]/.test(delta)) delta = JSON.stringify(JSON.parse(delta))
  if (/^\s*\[\s*\]\s*$/.test(delta)) return null
  return sseEvent('change', change.id, changeData(delta, change.at, change.author))
}

/** The `reset` event: the whole `text` as of change `id` (committed at `at`, null for none yet). */
export function resetEvent(id: number, text: string, at: number | null, reason: ResetReason): string {
  return sseEvent('reset', id, JSON.stringify({ text, at, reason }))
}

/** The `presence` event: who is in the room, and who joined or left since the last one. */
export function presenceEvent(
  people: readonly Person[],
  joined: readonly string[],
  left: readonly string[],
): string {
  return sseEvent('presence', null, JSON.stringify({ people, joined, left }))
}

/** The `version` event: a version the room's history made (no id: it is not a change). */
export function versionEvent(version: VersionInfo): string {
  return sseEvent('version', null, JSON.stringify(version))
}
