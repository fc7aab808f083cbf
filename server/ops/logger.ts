/**
 * The server's pino logger, in one of two formats: JSON lines (for containers and log shippers) or
 * pretty one-line messages for a person at a terminal (`HH:MM:ss LEVEL message {fields}`).
 */
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'

/** How log lines are written: `json` (one JSON object a line) or `pretty` (human-readable). */
export type LogFormat = 'json' | 'pretty'

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty']

/** A logger to stdout at `level` ('silent' for none), JSON unless `format` is 'pretty'. */
export function createLogger(level: string, format: LogFormat = 'json'): Logger {
  const options = { level, base: { service: 'tandem' } }
  if (format === 'json') return pino(options)
  // A synchronous stream (not a worker-thread transport): lines are written before `process.exit`,
  // and nothing is left buffered when the server stops.
  const stream = pretty({
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,service',
  })
  return pino(options, stream)
}
