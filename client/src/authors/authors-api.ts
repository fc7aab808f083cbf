/**
 * The editor's side of `GET /api/rooms/<room>/authors` (PROTOCOL.md, "History and authorship"): the
 * current text as consecutive spans, each with its author's key (null for text nobody is bound to),
 * and per author their name, presence colour and how many characters of the text they wrote. Read
 * defensively: an answer that is not that throws a RoomApiError.
 */
import { jsonBody } from '../access-api.ts'
import { type RoomApi, RoomApiError, roomRequest } from '../room-api.ts'

/** One run of the text written by one author (`author` null: not known). */
export interface AuthorSpan {
  length: number
  author: string | null
}

/** Someone who wrote part of the text. */
export interface Author {
  key: string
  name: string
  /** Presence colour (#rrggbb) when known. */
  color: string | null
  /** Characters (UTF-16 units) of the current text they wrote. */
  chars: number
}

/** Who wrote the room's text as of change `changeId`, which is `length` units long. */
export interface Authorship {
  changeId: number
  length: number
  spans: AuthorSpan[]
  authors: Author[]
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

/** Reads an /authors answer; null when it is not one (or its spans do not add up to its length). */
export function parseAuthorship(body: unknown): Authorship | null {
  if (typeof body !== 'object' || body === null) return null
  const b = body as Record<string, unknown>
  if (!isCount(b.length) || !Array.isArray(b.spans) || !Array.isArray(b.authors)) return null
  const spans: AuthorSpan[] = []
  let total = 0
  for (const span of b.spans as unknown[]) {
    const s = span as Record<string, unknown> | null
    if (!isCount(s?.length) || !(typeof s.author === 'string' || s.author === null)) return null
    spans.push({ length: s.length, author: s.author })
    total += s.length
  }
  if (total !== b.length) return null
  const authors: Author[] = []
  for (const author of b.authors as unknown[]) {
    const a = author as Record<string, unknown> | null
    if (typeof a?.key !== 'string') return null
    authors.push({
      key: a.key,
      name: typeof a.name === 'string' && a.name ? a.name : a.key,
      color: typeof a.color === 'string' ? a.color : null,
      chars: isCount(a.chars) ? a.chars : 0,
    })
  }
  return { changeId: isCount(b.changeId) ? b.changeId : 0, length: b.length, spans, authors }
}

/** Fetches who wrote the room's current text. */
export async function fetchAuthorship(api: RoomApi): Promise<Authorship> {
  const authorship = parseAuthorship(await jsonBody(await roomRequest(api, '/authors')))
  if (!authorship) {
    throw new RoomApiError(502, 'malformed_answer', 'The server answered with something unexpected.')
  }
  return authorship
}
