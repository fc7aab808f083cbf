/**
 * A room held for one HTTP request: opened through the registry (loaded if nobody has it open,
 * within `maxRoomsLoaded`) and released once the request is done with it, as a socket holds its
 * room while connected. A room that cannot be opened answers 503.
 */
import type { Logger } from 'pino'
import { ApiError } from './api-error.ts'

/** Where requests get their rooms: the room registry. */
export interface RequestRooms<R> {
  open(name: string): Promise<R>
  release(room: R): void
  isOpen(name: string): boolean
  readonly openCount: number
}

/**
 * Runs `use` with room `name` held, and releases it when `use` has settled; throws ApiError 503
 * past `maxRoomsLoaded` or when the room fails to load (logged, naming `what` the request does).
 */
export async function withRoom<R, T>(
  rooms: RequestRooms<R>,
  options: { maxRoomsLoaded: number; log: Logger; what: string },
  name: string,
  use: (room: R) => T | Promise<T>,
): Promise<T> {
  if (!rooms.isOpen(name) && rooms.openCount >= options.maxRoomsLoaded) {
    throw new ApiError(503, 'unavailable', 'too many rooms loaded', 5)
  }
  let room: R
  try {
    room = await rooms.open(name)
  } catch (err) {
    options.log.error({ err, room: name }, `room failed to load for ${options.what}`)
    throw new ApiError(503, 'unavailable', 'the room could not be loaded', 5)
  }
  try {
    return await use(room)
  } finally {
    rooms.release(room)
  }
}
