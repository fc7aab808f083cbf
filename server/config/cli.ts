/**
 * The command line, from the options table (options.ts): reads flags and environment variables into
 * a partial config (a flag wins over its variable), and says them back as `--help` and as the
 * README's table of options. Only `main.ts` calls `readCommandLine`, with `process.argv` and
 * `process.env`.
 */
import { parseArgs } from 'node:util'
import { type CommandLineOption, OPTIONS, type Option, type ServerConfig } from './options.ts'
import { OptionTextError } from './values.ts'

/** A bad flag or variable value whose message says all there is to say: printed as one line, without usage. */
export class OptionValueError extends Error {
  override readonly name = 'OptionValueError'
}

/** How log lines are written (ops/logger.ts): one JSON object a line, or readable lines. */
export type LogFormat = 'json' | 'pretty'

/** What the command line asks for. */
export interface CommandLine {
  /** `--help`: print `usage()` and exit (nothing else is read). */
  help: boolean
  config: Partial<ServerConfig>
  /** How main.ts writes the logs (a flag of the command line alone: the library takes a `logger`). */
  logFormat: LogFormat
}

/** `--log-format`, the command line's one flag that is not a server option. */
const LOG_FORMAT: CommandLineOption<LogFormat> = {
  flag: 'log-format',
  env: 'LOG_FORMAT',
  parse: (format) => {
    if (format !== 'json' && format !== 'pretty') throw new OptionTextError('must be json or pretty')
    return format
  },
}

/**
 * Flags that set a second option too, unless that one is given itself: a shorter longest link
 * lifetime caps the default lifetime, and a message rate brings a burst of twice it.
 */
const IMPLIED: { [K in keyof ServerConfig]?: (value: ServerConfig[K]) => Partial<ServerConfig> } = {
  maxLinkTtlSeconds: (seconds) => ({
    defaultLinkTtlSeconds: Math.min(OPTIONS.defaultLinkTtlSeconds.default, seconds),
  }),
  documentMessagesPerSecond: (rate) => ({ documentMessageBurst: rate * 2 }),
  awarenessMessagesPerSecond: (rate) => ({ awarenessBurst: rate * 2 }),
}

/** Reads `args` (flags) over `env`; `terminal`: stdout is a terminal (logs are pretty by default). */
export function readCommandLine(
  args: string[],
  env: Record<string, string | undefined>,
  terminal: boolean,
): CommandLine {
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(
        [...Object.values(OPTIONS), { cli: LOG_FORMAT }].flatMap(({ cli }) =>
          cli ? [[cli.flag, { type: 'string' as const }]] : [],
        ),
      ),
      help: { type: 'boolean' },
    },
  })
  if (values.help) return { help: true, config: {}, logFormat: 'json' }
  const read = <T>(cli: CommandLineOption<T>): T | undefined => {
    const text = (values as Record<string, string | undefined>)[cli.flag] ?? env[cli.env] ?? cli.fallback
    if (text === undefined) return undefined
    try {
      return cli.parse(text)
    } catch (err) {
      if (!(err instanceof OptionTextError)) throw err
      throw new OptionValueError(`--${cli.flag} / ${cli.env} ${err.message}, got "${text}"`)
    }
  }
  const config: Record<string, unknown> = {}
  const implied: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(OPTIONS) as [keyof ServerConfig, Option<unknown>][]) {
    const value = spec.cli && read(spec.cli)
    if (value === undefined) continue
    config[name] = value
    Object.assign(implied, (IMPLIED[name] as ((value: unknown) => object) | undefined)?.(value))
  }
  for (const [name, value] of Object.entries(implied)) if (!(name in config)) config[name] = value
  // The SQLite file is ignored, not contradictory, with memory or PostgreSQL: a TANDEM_DB left in the
  // environment does not stop `--storage memory`.
  if (config.storage === 'memory' || config.databaseUrl) delete config.db
  return { help: false, config, logFormat: read(LOG_FORMAT) ?? (terminal ? 'pretty' : 'json') }
}

/** One line of `--help` and of the README's table. */
interface Row {
  section: string
  /** The ServerConfig key; null for a flag of the command line alone. */
  name: string | null
  cli: CommandLineOption<unknown> | null
  /** The default: `literal` as written (code in the README), `words` around or instead of it. */
  literal: string | null
  words: string | null
  doc: string
}

const KiB = 1024
const MiB = 1024 * KiB

function rows(): Row[] {
  const rows: Row[] = []
  for (const [name, spec] of Object.entries(OPTIONS) as [string, Option<unknown>][]) {
    rows.push({
      section: spec.section!,
      name,
      cli: spec.cli ?? null,
      ...shownDefault(name, spec),
      doc: spec.doc,
    })
    if (name === 'logLevel') {
      rows.push({
        section: spec.section!,
        name: null,
        cli: LOG_FORMAT,
        literal: null,
        words: 'pretty on a terminal, else json',
        doc: 'json (one object a line) or pretty (readable lines)',
      })
    }
  }
  return rows
}

function shownDefault(name: string, spec: Option<unknown>): Pick<Row, 'literal' | 'words'> {
  const value = spec.default
  if (typeof spec.shown === 'string') return { literal: null, words: spec.shown }
  if (spec.shown) return { literal: spec.shown(value), words: null }
  if (value === null) return { literal: null, words: 'none' }
  if (typeof value === 'number' && name.includes('Bytes') && value % KiB === 0) {
    return {
      literal: String(value),
      words: value % MiB === 0 ? `= ${value / MiB} MiB` : `= ${value / KiB} KiB`,
    }
  }
  return { literal: value === '' ? '""' : String(value), words: null }
}

/** Sections in order, each with its rows. */
function sections(rows: Row[]): Map<string, Row[]> {
  const sections = new Map<string, Row[]>()
  for (const row of rows) sections.set(row.section, [...(sections.get(row.section) ?? []), row])
  return sections
}

/** What `--help` prints: every flag, its variable, meaning and default, by section. */
export function usage(): string {
  const flagged = rows().filter((row) => row.cli !== null)
  const flagWidth = Math.max(...flagged.map((row) => row.cli!.flag.length)) + 2
  const envWidth = Math.max(...flagged.map((row) => row.cli!.env.length))
  const line = (flag: string, env: string, meaning: string) =>
    `  ${flag.padEnd(flagWidth)}  ${env.padEnd(envWidth)}  ${meaning}`.trimEnd()
  const out = ['Usage: npm run server -- [options]', '', 'A flag wins over its environment variable.']
  for (const [title, list] of sections(flagged)) {
    out.push('', `${title}:`)
    for (const row of list) {
      const shown = [row.literal, row.words].filter(Boolean).join(' ')
      out.push(line(`--${row.cli!.flag}`, row.cli!.env, `${row.doc} (default: ${shown})`))
    }
  }
  out.push('', line('--help', '', 'print this and exit'))
  return `${out.join('\n')}\n`
}

/** The README's table of options (between its `options` markers): every option, by section. */
export function optionsMarkdown(): string {
  const code = (text: string) => `\`${text}\``
  const cell = (text: string) => text.replaceAll('|', '\\|')
  const out: string[] = []
  for (const [title, list] of sections(rows())) {
    out.push(
      `**${title}**`,
      '',
      '| option | flag | environment | default | meaning |',
      '| --- | --- | --- | --- | --- |',
    )
    for (const row of list) {
      const shown = [row.literal && code(row.literal), row.words].filter(Boolean).join(' ')
      out.push(
        `| ${[
          row.name ? code(row.name) : '(command line)',
          row.cli ? code(`--${row.cli.flag}`) : 'library only',
          row.cli ? code(row.cli.env) : '',
          shown,
          row.doc,
        ]
          .map(cell)
          .join(' | ')} |`,
      )
    }
    out.push('')
  }
  return out.join('\n')
}
