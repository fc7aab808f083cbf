/**
 * Who wrote what of a text, from the CRDT's own ids (PROTOCOL.md, "History and authorship"): the
 * Y.Text's items are walked in document order, each visible item's writer read from its id's
 * client and mapped to the identity that client id is bound to. Consecutive items of one author
 * merge into one span, so a text typed by a few people is a few hundred spans however many
 * keystrokes made it. Lengths count UTF-16 code units, as the text's length does (an embed is one).
 */
import type * as Y from 'yjs'

/** A run of the text written by one author: an identity key, or null when its client id has no binding. */
export interface AuthorSpan {
  length: number
  author: string | null
}

/** The text's authorship: its spans, the units each author's spans hold, client ids without a binding. */
export interface TextAuthorship {
  /** The text's length, in UTF-16 code units (the spans' lengths add up to it). */
  length: number
  spans: AuthorSpan[]
  /** Identity key → units of the current text it wrote. */
  chars: Map<string, number>
  /** Client ids of visible items `keyOf` did not know. */
  unbound: Set<number>
  /** Items walked (deleted ones too): what the read cost. */
  items: number
}

/** The spans of `text`, with `keyOf` giving the identity key a client id is bound to (undefined: none). */
export function authorSpans(text: Y.Text, keyOf: (client: number) => string | undefined): TextAuthorship {
  const spans: AuthorSpan[] = []
  const chars = new Map<string, number>()
  const unbound = new Set<number>()
  let length = 0
  let current: AuthorSpan | null = null
  // Items come in runs of one client: the last lookup answers most of them.
  let lastClient = -1
  let lastAuthor: string | null = null
  let items = 0
  for (let item = text._start; item !== null; item = item.right) {
    items++
    if (item.deleted || !item.countable) continue
    const client = item.id.client
    if (client !== lastClient) {
      lastClient = client
      lastAuthor = keyOf(client) ?? null
      if (lastAuthor === null) unbound.add(client)
    }
    const units = item.length
    length += units
    if (current !== null && current.author === lastAuthor) current.length += units
    else {
      current = { length: units, author: lastAuthor }
      spans.push(current)
    }
  }
  for (const span of spans)
    if (span.author !== null) chars.set(span.author, (chars.get(span.author) ?? 0) + span.length)
  return { length, spans, chars, unbound, items }
}
