/**
 * Room names: the path of the WebSocket URL (`ws://HOST/<room>`). 1-128 characters of the URL
 * "unreserved" set `[A-Za-z0-9._~-]`, so they never need escaping; `.` and `..` are refused because
 * proxies and browsers normalise them away.
 */
const ROOM_NAME = /^[A-Za-z0-9._~-]{1,128}$/

/** Returns null when `name` is a valid room name, otherwise the reason it is not. */
export function roomNameProblem(name: string): string | null {
  if (name.length === 0) return 'room name is empty'
  if (name.length > 128) return 'room name is longer than 128 characters'
  if (name === '.' || name === '..') return 'room name may not be "." or ".."'
  if (!ROOM_NAME.test(name)) return 'room name may only contain A-Z a-z 0-9 . _ ~ -'
  return null
}

/** True when `name` is a valid room name. */
export const isValidRoomName = (name: string): boolean => roomNameProblem(name) === null
