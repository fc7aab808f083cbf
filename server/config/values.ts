/**
 * The kinds of option value: how one is written as text (a flag or an environment variable) and
 * read back (`Parse`), and what a value may be (`Check`). The options table (options.ts) names one
 * of each per option; the command line (cli.ts) parses with them and `resolveConfig` checks.
 */

/**
 * How an option's text becomes its value: undefined means "as if not given" (an empty URL or
 * secret); a text that cannot be one throws `OptionTextError` saying what it must look like.
 */
export type Parse<T> = (text: string) => T | undefined

/** What a value may be: null when it is fine, else what it must be ("a positive number"). */
export type Check<T> = (value: T) => string | null

/** A text that is not a value of its option's kind; the message says what it must look like. */
export class OptionTextError extends Error {
  override readonly name = 'OptionTextError'
}

export function number(text: string): number {
  const value = Number(text)
  if (!Number.isFinite(value)) throw new OptionTextError('must be a number')
  return value
}

/** The text itself. */
export const text: Parse<string> = (value) => value

/** The text; empty is as if not given (URLs and secrets that a blank variable leaves unset). */
export const textOrUnset: Parse<string> = (value) => (value === '' ? undefined : value)

/** `true` or `1` is true; any other text is false. */
export const flag: Parse<boolean> = (value) => value === 'true' || value === '1'

/** A comma list of origins (a trailing slash dropped); empty is as if not given. */
export const originList: Parse<string[]> = (list) =>
  list === '' ? undefined : list.split(',').map((origin) => origin.trim().replace(/\/$/, ''))

/** Parses a duration like `30m`, `12h`, `7d`, `90s` or `3600` (seconds) into seconds; null if it is not one. */
export function parseTtl(text: string): number | null {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (!match) return null
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as '' | 's' | 'm' | 'h' | 'd']
  const seconds = Number(match[1]) * unit
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : null
}

/** A duration in seconds, written as `parseTtl` reads it. */
export const duration: Parse<number> = (text) => {
  const seconds = parseTtl(text)
  if (seconds === null) throw new OptionTextError('must look like 30m, 12h, 7d or 3600')
  return seconds
}

export const positive: Check<number> = (value) =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? null : 'a positive number'

export const atLeastZero: Check<number> = (value) =>
  typeof value === 'number' && value >= 0 && !Number.isNaN(value) ? null : 'a number >= 0'

export const port: Check<number> = (value) =>
  Number.isInteger(value) && value >= 0 && value <= 65535 ? null : 'an integer 0-65535'

/** One of `values`. */
export function oneOf<T extends string>(...values: T[]): Check<T> {
  const quoted = values.map((value) => `"${value}"`)
  const listed = `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`
  return (value) => (values.includes(value) ? null : `${listed}, got "${value}"`)
}

/** A string of at least `min` characters (a secret: its value is never shown). */
export function secret(min: number): Check<string> {
  return (value) =>
    typeof value === 'string' && value.length >= min ? null : `a string of at least ${min} characters`
}

/** A string that `pattern` matches; `must` says what that is. */
export function matching(pattern: RegExp, must: string): Check<string> {
  return (value) => (typeof value === 'string' && pattern.test(value) ? null : must)
}

/** A non-empty list of http(s) origins. */
export const origins: Check<string[]> = (value) => {
  if (!Array.isArray(value) || value.length === 0) return 'a non-empty list of origins'
  const bad = value.find((origin) => !/^https?:\/\/[^/]+$/.test(origin))
  return bad === undefined ? null : `a list of origins such as https://tandem.example ("${bad}" is not one)`
}

/** Null, or what `check` accepts. */
export function orNull<T>(check: Check<T>): Check<T | null> {
  return (value) => {
    if (value === null) return null
    const must = check(value)
    return must === null ? null : `${must} (or null)`
  }
}
