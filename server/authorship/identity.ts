/**
 * Who a write is credited to (PROTOCOL.md, "History and authorship"): an `AuthorIdentity` whose
 * `key` is what Yjs client ids are bound to, durably.
 *
 * A WebSocket connection: with a token (access control on), `token:<jti>`, named by the token's
 * `name` claim, else its presence name; else the presence `user.id` the editor publishes (a stable
 * per-browser id, so a rename keeps the identity), `user:<id>`; else its presence name,
 * `name:<name>` (a stock client); else `anonymous`. An HTTP write: `token:<jti>` with a token, else
 * `user:<Tandem-Author-Id>` when the caller sends the editor's per-browser id (so the editor's HTTP
 * writes, a restore, are credited as its socket's are), else `name:<Tandem-Author>` (the caller
 * names itself, or "HTTP API"). Without tokens neither is checked, as presence is not.
 */
import { isPresenceColor, isPresenceName } from '../../shared/protocol/index.ts'
import type { AuthorIdentity } from '../store/history-store.ts'

/** The identity of a writer known by nothing at all. */
export const ANONYMOUS: AuthorIdentity = { key: 'anonymous', name: 'Anonymous', color: null }

/** What a token says of its holder: its id, and the name it was minted with (if any). */
export interface TokenHolder {
  readonly jti: string
  readonly name?: string | null
}

/** A presence `user.id`: at most 64 of [A-Za-z0-9_-] (anything else is ignored). */
export const USER_ID = /^[A-Za-z0-9_-]{1,64}$/

/** `user.id`, `user.name` and `user.color` of an awareness state, where they are well-formed. */
export function presenceUser(state: unknown): {
  id: string | null
  name: string | null
  color: string | null
} {
  const user = (state as { user?: unknown } | null | undefined)?.user
  if (typeof user !== 'object' || user === null) return { id: null, name: null, color: null }
  const { id, name, color } = user as Record<string, unknown>
  return {
    id: typeof id === 'string' && USER_ID.test(id) ? id : null,
    name: typeof name === 'string' && name !== '' && isPresenceName(name) ? name : null,
    color: isPresenceColor(color) ? color : null,
  }
}

/** The identity of a connection with `token` (null without one) whose presence is `state`. */
export function connectionIdentity(token: TokenHolder | null, state: unknown): AuthorIdentity {
  const user = presenceUser(state)
  if (token) {
    return { key: `token:${token.jti}`, name: token.name || user.name || ANONYMOUS.name, color: user.color }
  }
  if (user.id) return { key: `user:${user.id}`, name: user.name ?? ANONYMOUS.name, color: user.color }
  if (user.name) return { key: `name:${user.name}`, name: user.name, color: user.color }
  return user.color ? { ...ANONYMOUS, color: user.color } : ANONYMOUS
}

/**
 * The identity of an HTTP caller with `token` (null without one) that names itself `author`, with
 * the editor's per-browser `userId` when it sends one (null: none).
 */
export function httpIdentity(
  token: TokenHolder | null,
  author: string,
  userId: string | null = null,
): AuthorIdentity {
  if (token) return { key: `token:${token.jti}`, name: token.name || author, color: null }
  if (userId) return { key: `user:${userId}`, name: author, color: null }
  return { key: `name:${author}`, name: author, color: null }
}

/**
 * Who the server writes for (Room.applyLocal / editText): an identity, or a display name alone
 * (`name:<name>`), or null (anonymous).
 */
export type WriteAuthor = AuthorIdentity | string | null

/** `author` as an identity. */
export function identityOf(author: WriteAuthor): AuthorIdentity {
  if (author === null) return ANONYMOUS
  return typeof author === 'string' ? { key: `name:${author}`, name: author, color: null } : author
}

/** The display name a change by `author` is credited to in the change log (null: none known). */
export function displayName(author: WriteAuthor): string | null {
  return author === null || typeof author === 'string' ? author : author.name
}
