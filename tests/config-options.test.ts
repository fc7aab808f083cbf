/**
 * The options table (server/config/options.ts) is the one declaration of every option: the README's
 * table of options and the real `--help` say the same flags, variables, defaults and meanings, and
 * list every option; the command line reads flags over variables with its special cases (units,
 * lists, implied bursts, ignored SQLite file); values are checked by their kind.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { OptionValueError, optionsMarkdown, readCommandLine } from '../server/config/cli.ts'
import { defaultConfig, resolveConfig } from '../server/config/config.ts'
import { OPTIONS } from '../server/config/options.ts'

const root = join(import.meta.dirname, '..')

/** One documented flag: what the README or `--help` says of it. */
interface Said {
  env: string
  shown: string
  doc: string
}

/** The README's block between its `options` markers. */
function readmeBlock(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const match = /<!-- options:begin[^\n]*-->\n([\s\S]*?)<!-- options:end -->/.exec(readme)
  expect(match, 'README.md has <!-- options:begin … --> … <!-- options:end -->').toBeTruthy()
  return match![1]
}

/** The README's rows: option name (or null) → flag (or null) and what it says. */
function readmeRows(): { name: string | null; flag: string | null; said: Said }[] {
  const cells = (line: string) =>
    line
      .slice(2, -2)
      .split(/ (?<!\\)\| /)
      .map((cell) => cell.replaceAll('\\|', '|'))
  const bare = (cell: string) => cell.replaceAll('`', '')
  return readmeBlock()
    .split('\n')
    .filter((line) => line.startsWith('| `') || line.startsWith('| ('))
    .map((line) => {
      const [name, flag, env, shown, doc] = cells(line)
      return {
        name: name.startsWith('`') ? bare(name) : null,
        flag: flag.startsWith('`--') ? bare(flag).slice(2) : null,
        said: { env: bare(env), shown: bare(shown), doc },
      }
    })
}

/** What the real `server/main.ts --help` prints, flag → what it says. */
function helpRows(): Map<string, Said> {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts', '--help'], {
    cwd: root,
    encoding: 'utf8',
  })
  expect(run.status, run.stderr).toBe(0)
  const rows = new Map<string, Said>()
  for (const line of run.stdout.split('\n')) {
    const match = /^ {2}--(\S+) +(\S+) +(.*) \(default: (.*)\)$/.exec(line)
    if (match) rows.set(match[1], { env: match[2], doc: match[3], shown: match[4] })
  }
  return rows
}

describe('the README and --help say the options table', () => {
  it("the README's block is the table as generated", () => {
    const expected = optionsMarkdown()
    // On a difference: paste the printed block between the README's markers.
    if (readmeBlock() !== expected) console.log(`README.md options block should read:\n${expected}`)
    expect(readmeBlock()).toBe(expected)
  })

  it('the README lists every option, and --help says what the README says of every flag', () => {
    const readme = readmeRows()
    expect(readme.map((row) => row.name).filter(Boolean)).toEqual(Object.keys(OPTIONS))
    const help = helpRows()
    const documented = readme.filter((row) => row.flag !== null)
    expect(documented.map((row) => row.flag).sort()).toEqual([...help.keys()].sort())
    for (const row of documented) expect(help.get(row.flag!), `--${row.flag}`).toEqual(row.said)
  })

  it('each flag and variable names one option; library-only options are the ones without', () => {
    const specs = Object.entries(OPTIONS)
    const flags = specs.flatMap(([, spec]) => (spec.cli ? [spec.cli.flag] : []))
    const envs = specs.flatMap(([, spec]) => (spec.cli ? [spec.cli.env] : []))
    expect(new Set(flags).size).toBe(flags.length)
    expect(new Set(envs).size).toBe(envs.length)
    expect(specs.filter(([, spec]) => !spec.cli).map(([name]) => name)).toEqual([
      'compactFromDocumentMaxBytes',
      'store',
      'logger',
    ])
  })
})

/** `readCommandLine` with `args` over `env`, stdout not a terminal. */
const read = (args: string[], env: Record<string, string> = {}) => readCommandLine(args, env, false)

describe('the command line', () => {
  it('reads each flag over its variable; nothing given is nothing set but the client directory', () => {
    expect(read([]).config).toEqual({ staticDir: 'client/dist' })
    expect(read(['--port', '8080'], { PORT: '9090', HOST: '::1' }).config).toMatchObject({
      port: 8080,
      host: '::1',
    })
    expect(read(['--help']).help).toBe(true)
  })

  it('keeps its special cases', () => {
    expect(read(['--max-update-work-ms', '20']).config.maxUpdateWork).toBe(20_000_000)
    // A shorter longest link lifetime caps the default one, unless that is given too.
    expect(read(['--max-link-ttl', '12h']).config).toMatchObject({
      maxLinkTtlSeconds: 43_200,
      defaultLinkTtlSeconds: 43_200,
    })
    expect(read([], { TANDEM_MAX_LINK_TTL: '30d' }).config.defaultLinkTtlSeconds).toBe(
      defaultConfig.defaultLinkTtlSeconds,
    )
    expect(read(['--max-link-ttl', '12h', '--default-link-ttl', '1h']).config.defaultLinkTtlSeconds).toBe(
      3_600,
    )
    expect(read(['--doc-messages-per-second', '10']).config).toMatchObject({
      documentMessagesPerSecond: 10,
      documentMessageBurst: 20,
    })
    expect(read(['--doc-messages-per-second', '10', '--doc-message-burst', '5']).config).toMatchObject({
      documentMessageBurst: 5,
    })
    expect(
      read(['--allowed-origins', 'https://a.example/, https://b.example']).config.allowedOrigins,
    ).toEqual(['https://a.example', 'https://b.example'])
    expect(read(['--trust-proxy', '1']).config.trustProxy).toBe(true)
    expect(read([], { TANDEM_TRUST_PROXY: 'yes' }).config.trustProxy).toBe(false)
    expect(read(['--static-dir', '']).config.staticDir).toBeNull()
    expect(read(['--sqlite-sync', 'full']).config.sqliteSynchronous).toBe('FULL')
  })

  it('an empty URL or secret is unset, and DATABASE_URL alone chooses PostgreSQL', () => {
    const empty = read([], {
      DATABASE_URL: '',
      REDIS_URL: '',
      TANDEM_AUTH_SECRET: '',
      TANDEM_ALLOWED_ORIGINS: '',
    })
    expect(empty.config).toEqual({ staticDir: 'client/dist' })
    const postgres = read([], { DATABASE_URL: 'postgres://u@db:5432/t', TANDEM_DB: 'x.db' }).config
    expect(postgres.db).toBeUndefined()
    expect(resolveConfig(postgres).storage).toBe('postgres')
  })

  it('a SQLite file from the environment is ignored with memory, kept with SQLite', () => {
    expect(read(['--storage', 'memory'], { TANDEM_DB: 'x.db' }).config.db).toBeUndefined()
    expect(read([], { TANDEM_DB: 'x.db' }).config.db).toBe('x.db')
  })

  it('logs are pretty on a terminal, else JSON; the flag wins; a bad format is one line', () => {
    expect(readCommandLine([], {}, true).logFormat).toBe('pretty')
    expect(read([]).logFormat).toBe('json')
    expect(read(['--log-format', 'json'], { LOG_FORMAT: 'pretty' }).logFormat).toBe('json')
    expect(() => read([], { LOG_FORMAT: 'xml' })).toThrow(
      new OptionValueError('--log-format / LOG_FORMAT must be json or pretty, got "xml"'),
    )
    expect(() => read(['--port', 'eighty'])).toThrow(
      new OptionValueError('--port / PORT must be a number, got "eighty"'),
    )
    expect(() => read(['--max-link-ttl', 'soon'])).toThrow(OptionValueError)
  })
})

describe('values are checked by their kind', () => {
  it('the defaults pass; a value out of its range names the option', () => {
    expect(resolveConfig({})).toMatchObject({ ...defaultConfig, documentByteBurst: defaultConfig.maxPayload })
    expect(() => resolveConfig({ port: 70_000 })).toThrow(
      'option "port" must be an integer 0-65535, got 70000',
    )
    expect(() => resolveConfig({ heartbeatMs: 0 })).toThrow(
      'option "heartbeatMs" must be a positive number, got 0',
    )
    expect(() => resolveConfig({ monitorPort: -1 })).toThrow('an integer 0-65535 (or null), got -1')
    expect(() => resolveConfig({ storage: 'disk' as never })).toThrow(
      'option "storage" must be "sqlite", "memory" or "postgres", got "disk"',
    )
    // A secret too short is refused without being repeated.
    expect(() => resolveConfig({ authSecret: 'hunter2' })).toThrow(
      /^option "authSecret" must be a string of at least 32 characters \(or null\)$/,
    )
  })
})
