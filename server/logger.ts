/** The server's pino logger. */
import pino, { type Logger } from 'pino'

/** A JSON logger to stdout at `level` ('silent' for none). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'tandem' } })
}
