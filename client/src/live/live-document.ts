/**
 * What the live page knows of a room, kept from the change feed's events (PROTOCOL.md, "The change
 * feed"): the text at the last change id it applied, who is there, and the last change's time and
 * author. Pure: the feed's `(type, id, data)` go in, what to show comes out.
 *
 * `reset` replaces the text and sets the id. `change` applies its delta when its id is above the
 * last one (a change seen already, as a resumed stream may repeat, is ignored). A change the page
 * cannot apply (no text yet, a delta that does not fit, data that does not parse) means it lost
 * track: the caller starts a fresh stream, which begins with a reset.
 */
import { isPresenceColor, isPresenceName, stripNameControls } from '../../../shared/protocol/index.ts'
import { FALLBACK_COLOR } from '../presence-states.ts'
import { applyDelta, DeltaDoesNotFitError, parseDelta, type TextDelta } from './text-delta.ts'

/** Someone in the room, as the feed's presence event names them (checked fit for the DOM). */
export interface Person {
  readonly name: string
  readonly color: string
}

/** The last change the text reflects: when, and by whom where known. */
export interface LastChange {
  readonly at: number | null
  readonly author: string | null
}

/** What one event did. */
export type FeedOutcome =
  | { kind: 'reset'; text: string; reason: string }
  | { kind: 'change'; delta: TextDelta }
  | { kind: 'presence'; people: readonly Person[]; joined: readonly string[]; left: readonly string[] }
  /** A change already applied, or an event this page does not know. */
  | { kind: 'ignored' }
  /** The page cannot follow from here (`reason` says why): start a stream without a last id. */
  | { kind: 'lost'; reason: string }

/** The longest name shown, as the editor's presence list cuts it. */
const MAX_SHOWN_NAME = 40

/** Reads an event id: a change id is a non-negative integer. */
function parseId(id: string): number | null {
  if (!/^\d{1,15}$/.test(id)) return null
  return Number(id)
}

function parseJson(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

const timeOf = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null

/** A name from the network made fit to show: no control characters, cut short, never empty. */
function shownName(value: unknown): string {
  const raw = typeof value === 'string' ? value : ''
  const name = (isPresenceName(raw) ? raw : stripNameControls(raw)).slice(0, MAX_SHOWN_NAME).trim()
  return name || 'Anonymous'
}

function parsePeople(value: unknown): Person[] {
  if (!Array.isArray(value)) return []
  return value
    .filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null)
    .map((p) => ({ name: shownName(p.name), color: isPresenceColor(p.color) ? p.color : FALLBACK_COLOR }))
}

const parseNames = (value: unknown): string[] => (Array.isArray(value) ? value.map(shownName) : [])

/** The document as the feed tells it. */
export class LiveDocument {
  #text = ''
  #id: number | null = null
  #people: readonly Person[] = []
  #lastChange: LastChange | null = null

  /** The text at `id`. */
  get text(): string {
    return this.#text
  }

  /** The last change id the text reflects; null until the first reset, and once it lost track. */
  get id(): number | null {
    return this.#id
  }

  /** Who is in the room, as the last presence event said. */
  get people(): readonly Person[] {
    return this.#people
  }

  /** The last change applied (from a reset: its time, no author); null before any. */
  get lastChange(): LastChange | null {
    return this.#lastChange
  }

  /** Applies one feed event: its type, its `id:` field (the stream's last id) and its data. */
  receive(type: string, id: string, data: string): FeedOutcome {
    switch (type) {
      case 'reset':
        return this.#reset(id, data)
      case 'change':
        return this.#change(id, data)
      case 'presence':
        return this.#presence(data)
      default:
        return { kind: 'ignored' }
    }
  }

  #reset(rawId: string, data: string): FeedOutcome {
    const id = parseId(rawId)
    const body = parseJson(data)
    if (id === null || typeof body?.text !== 'string') return this.#lost('a reset that does not parse')
    this.#text = body.text
    this.#id = id
    this.#lastChange = id === 0 ? null : { at: timeOf(body.at), author: null }
    return { kind: 'reset', text: body.text, reason: typeof body.reason === 'string' ? body.reason : 'start' }
  }

  #change(rawId: string, data: string): FeedOutcome {
    const id = parseId(rawId)
    if (id === null) return this.#lost(`a change id that does not parse (${rawId})`)
    if (this.#id === null) return this.#lost('a change before any reset')
    if (id <= this.#id) return { kind: 'ignored' }
    const body = parseJson(data)
    const delta = parseDelta(body?.delta)
    if (!body || !delta) return this.#lost(`change ${id} does not parse`)
    try {
      this.#text = applyDelta(this.#text, delta)
    } catch (error) {
      if (error instanceof DeltaDoesNotFitError) return this.#lost(`change ${id}: ${error.message}`)
      throw error
    }
    this.#id = id
    const author = body.author as Record<string, unknown> | null | undefined
    this.#lastChange = {
      at: timeOf(body.at),
      author: typeof author === 'object' && author !== null ? shownName(author.name) : null,
    }
    return { kind: 'change', delta }
  }

  /** Forgets the id (the text stays shown until the next reset replaces it). */
  #lost(reason: string): FeedOutcome {
    this.#id = null
    return { kind: 'lost', reason }
  }

  #presence(data: string): FeedOutcome {
    const body = parseJson(data)
    if (!body) return { kind: 'ignored' }
    this.#people = parsePeople(body.people)
    return {
      kind: 'presence',
      people: this.#people,
      joined: parseNames(body.joined),
      left: parseNames(body.left),
    }
  }
}
