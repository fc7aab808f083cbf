/**
 * The `user` field of an awareness state: the part of a peer's presence that reaches other people's
 * DOM. y-codemirror.next writes `color` and `colorLight` into the style attribute of a remote caret
 * and selection (`background-color: ${color}`), and `name` into the caret's label; the presence list
 * shows both. The server refuses a state that breaks these rules and the client replaces such fields
 * before anything renders them:
 *
 *   user  = absent | null | { name?: name, color?: color, colorLight?: color, other fields (ignored) }
 *   color = "#" followed by 3, 4, 6 or 8 hex digits
 *   name  = a string of at most 64 UTF-16 code units, without control characters (Unicode Cc) or
 *           bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069)
 */

/** Longest `user.name`, in UTF-16 code units. */
export const MAX_PRESENCE_NAME_LENGTH = 64

const PRESENCE_COLOR = /^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/
const NAME_FORBIDDEN = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u
const NAME_FORBIDDEN_ALL = new RegExp(NAME_FORBIDDEN.source, 'gu')

/** True when `value` is a hex CSS colour a style attribute may carry. */
export const isPresenceColor = (value: unknown): value is string =>
  typeof value === 'string' && PRESENCE_COLOR.test(value)

/** True when `value` is a name that may be shown to other people. */
export const isPresenceName = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= MAX_PRESENCE_NAME_LENGTH && !NAME_FORBIDDEN.test(value)

/** `raw` without the characters a presence name may not hold (the length is not bounded here). */
export const stripNameControls = (raw: string): string => raw.replace(NAME_FORBIDDEN_ALL, '')

/**
 * Returns null when the `user` field of awareness state `state` follows the rules above, otherwise
 * the reason it does not. A state that is not an object has no `user` field and passes.
 */
export function presenceUserProblem(state: unknown): string | null {
  if (!isObject(state) || !('user' in state)) return null
  const user = state.user
  if (user === null) return null
  if (!isObject(user)) return 'user is not an object'
  if ('name' in user && !isPresenceName(user.name)) {
    return `user.name is not a name (${MAX_PRESENCE_NAME_LENGTH} characters, no controls)`
  }
  for (const field of ['color', 'colorLight'] as const) {
    if (field in user && !isPresenceColor(user[field])) return `user.${field} is not a #hex colour`
  }
  return null
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
