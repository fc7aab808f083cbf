/**
 * `npm run bench:hostile [-- --classes 0,1,2,3,4,5,6,7,8] [--seconds N] [--settle-seconds N] [--out FILE]`
 *
 * Replays each class of hostile input from the issue "hostile input can kill the server" (class 0 is
 * a baseline with no attack; 4 means 4a,4b,4c) against a fresh `server/main.ts` process, while a
 * healthy room is busy: a stock client types 20 edits/s and a second stock client in the same room
 * times each edit's arrival. The attacker (bench/hostile-attacks.ts) runs in its own process (this
 * file with `--attacker`), so building and reading its payloads never delays the healthy clients.
 *
 * Per class it reports: whether the server survived (or died, or stopped answering), how the
 * attacker's connections ended, the server's longest event-loop stall (from `/health` `eventLoop`
 * when the server reports it, over whatever window the server keeps; else from bench/relay/probe.ts,
 * preloaded into the server and reset when the attack starts), its peak RSS
 * (VmHWM from /proc), the healthy room's max and p99 edit delay, edits that never arrived, and whether
 * the healthy room's text and presence are intact at the end. Prints a markdown table and writes
 * bench/results/hostile.json. Every phase has a deadline, so a server that dies or hangs is reported,
 * never waited on forever.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { type AttackResult, CLASSES, makeAttack, sleep, stockProvider } from './hostile-attacks.ts'
import type { ProbeSample } from './relay/probe.ts'

const root = join(import.meta.dirname, '..')
const HOST = '127.0.0.1'
const EDITS_PER_SECOND = 20
const WARMUP_MS = 1_000
/** How long past its window an attack may take to report (class 4b waits until its frames are delivered). */
const ATTACKER_GRACE_MS = 90_000

/** Attacker process (`--attacker CLASS`): prepare, say ready, wait for go, attack, report, exit. */
async function runAttacker(id: string, port: number, seconds: number): Promise<void> {
  const result: AttackResult = { outcomes: {}, notes: [] }
  const attack = makeAttack(id, port, result)
  await attack.prepare()
  const go = new Promise<{ aliceId: number }>((resolve) =>
    process.once('message', (message) => resolve(message as { aliceId: number })),
  )
  process.send!({ type: 'ready' })
  const { aliceId } = await go
  await attack.run(Date.now() + seconds * 1_000, aliceId)
  process.send!({ type: 'done', result }, () => process.exit(0))
}

// ---------------------------------------------------------------- harness

interface Row {
  class: string
  attack: string
  /** "survived", "server died", or "timed out" (alive but /health did not answer). */
  server: string
  serverDetail: string
  attacker: string
  stallMaxMs: number | null
  stallP99Ms: number | null
  stallSource: 'health' | 'probe' | null
  peakRssMb: number | null
  editDelayMaxMs: number | null
  editDelayP99Ms: number | null
  editsSent: number
  editsLost: number
  healthyTextComplete: boolean
  healthyPresenceIntact: boolean
  notes: string
}

interface ServerProcess {
  child: ChildProcess
  port: number
  /** Last lines of output (for a crash's reason). */
  tail: string[]
  exited: Promise<string>
  alive(): boolean
}

/** Starts `server/main.ts` with the probe preloaded; resolves once its "listening" line names the port. */
async function startServerProcess(sqliteDir: string | null): Promise<ServerProcess> {
  const storage = sqliteDir ? ['--db', join(sqliteDir, 'tandem.db')] : ['--storage', 'memory']
  const args = [
    '--import',
    'tsx',
    '--import',
    join(root, 'bench/relay/probe.ts'),
    join(root, 'server/main.ts'),
    '--port',
    '0',
    '--host',
    HOST,
    '--static-dir',
    '',
    // info: the "listening" line names the port.
    '--log-level',
    'info',
    ...storage,
  ]
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  const tail: string[] = []
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`)),
  )
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error('server did not start within 20 s'))
    }, 20_000)
    const onLine = (line: string) => {
      if (line.trim() === '') return
      tail.push(line.slice(0, 300))
      if (tail.length > 60) tail.shift()
      if (line.includes('"listening"')) {
        clearTimeout(timer)
        resolve(JSON.parse(line).port)
      }
    }
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffered = ''
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) onLine(line)
      })
    }
    void exited.then((how) => reject(new Error(`server exited at start (${how}): ${tail.join(' | ')}`)))
  })
  return { child, port, tail, exited, alive: () => child.exitCode === null && child.signalCode === null }
}

/** The healthy room: a typist and a witness timing each edit's arrival. */
class HealthyRoom {
  readonly typist = new Y.Doc()
  readonly witness = new Y.Doc()
  readonly typistProvider: WebsocketProvider
  readonly witnessProvider: WebsocketProvider
  /** Per edit: when it was typed and the text length once it is in. */
  private readonly sentAt: number[] = []
  private readonly lengthAfter: number[] = []
  readonly delays: number[] = []
  private timer: NodeJS.Timeout | null = null

  constructor(url: string) {
    this.typistProvider = stockProvider(url, 'healthy', this.typist)
    this.witnessProvider = stockProvider(url, 'healthy', this.witness)
    this.typistProvider.awareness.setLocalStateField('user', { name: 'alice' })
    this.witness.on('update', () => {
      const length = this.witness.getText('text').length
      while (this.delays.length < this.sentAt.length && length >= this.lengthAfter[this.delays.length]) {
        this.delays.push(performance.now() - this.sentAt[this.delays.length])
      }
    })
  }

  synced(timeoutMs: number): Promise<boolean> {
    const both = Promise.all(
      [this.typistProvider, this.witnessProvider].map(
        (p) => new Promise<void>((resolve) => (p.synced ? resolve() : p.once('sync', () => resolve()))),
      ),
    ).then(() => true)
    return Promise.race([both, sleep(timeoutMs).then(() => false)])
  }

  startTyping(): void {
    const text = this.typist.getText('text')
    this.timer = setInterval(() => {
      const token = `${this.sentAt.length};`
      this.sentAt.push(performance.now())
      text.insert(text.length, token)
      this.lengthAfter.push(text.length)
    }, 1_000 / EDITS_PER_SECOND)
  }

  stopTyping(): void {
    if (this.timer) clearInterval(this.timer)
  }

  get sent(): number {
    return this.sentAt.length
  }

  get complete(): boolean {
    return this.witness.getText('text').toString() === this.typist.getText('text').toString()
  }

  get presenceIntact(): boolean {
    return this.witnessProvider.awareness.getStates().get(this.typist.clientID)?.user?.name === 'alice'
  }

  destroy(): void {
    this.stopTyping()
    this.typistProvider.destroy()
    this.witnessProvider.destroy()
  }
}

/** Peak resident set size (VmHWM) of `pid` in MB, or null once the process is gone. */
function peakRssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /VmHWM:\s+(\d+) kB/.exec(status)
    return match ? Number(match[1]) / 1024 : null
  } catch {
    return null
  }
}

/** `/health` as JSON within `timeoutMs`, or null. */
async function readHealth(port: number, timeoutMs: number): Promise<Record<string, any> | null> {
  try {
    const res = await fetch(`http://${HOST}:${port}/health`, { signal: AbortSignal.timeout(timeoutMs) })
    return (await res.json()) as Record<string, any>
  } catch {
    return null
  }
}

/** A probe sample (bench/relay/probe.ts) within `timeoutMs`, or null. */
function readProbe(child: ChildProcess, timeoutMs: number, reset = false): Promise<ProbeSample | null> {
  return new Promise((resolve) => {
    if (!child.connected) return resolve(null)
    const timer = setTimeout(() => {
      child.off('message', onMessage)
      resolve(null)
    }, timeoutMs)
    const onMessage = (message: ProbeSample) => {
      if (message?.probe !== 'sample') return
      clearTimeout(timer)
      child.off('message', onMessage)
      resolve(message)
    }
    child.on('message', onMessage)
    child.send({ probe: 'sample', reset }, () => {})
  })
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function runClass(cls: string, seconds: number, settleSeconds: number): Promise<Row> {
  const spec = CLASSES.find((c) => c.id === cls)!
  const row: Row = {
    class: cls,
    attack: spec.attack,
    server: 'survived',
    serverDetail: '',
    attacker: '',
    stallMaxMs: null,
    stallP99Ms: null,
    stallSource: null,
    peakRssMb: null,
    editDelayMaxMs: null,
    editDelayP99Ms: null,
    editsSent: 0,
    editsLost: 0,
    healthyTextComplete: false,
    healthyPresenceIntact: false,
    notes: '',
  }
  const notes: string[] = []
  const dir = spec.sqlite ? mkdtempSync(join(tmpdir(), 'tandem-hostile-')) : null
  let server: ServerProcess | null = null
  let healthy: HealthyRoom | null = null
  let attacker: ChildProcess | null = null
  let rssTimer: NodeJS.Timeout | null = null
  try {
    server = await startServerProcess(dir).catch((err: Error) => {
      // Seen once right after a class whose server grew to gigabytes: retry once, and say so.
      notes.push(`server start retried after: ${err.message.slice(0, 80)}`)
      return startServerProcess(dir)
    })
    const pid = server.child.pid!
    const url = `ws://${HOST}:${server.port}`
    rssTimer = setInterval(() => {
      row.peakRssMb = peakRssMb(pid) ?? row.peakRssMb
    }, 200)
    healthy = new HealthyRoom(url)
    if (!(await healthy.synced(10_000))) throw new Error('the healthy room did not sync')

    attacker = spawn(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, '--attacker', cls, '--port', String(server.port)].concat([
        '--seconds',
        String(seconds),
      ]),
      { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    )
    const child = attacker
    const messages: Array<{ type: string; result?: AttackResult }> = []
    child.on('message', (message: { type: string }) => messages.push(message))
    const attackerGone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    const ready = await until(() => messages.some((m) => m.type === 'ready'), 120_000, attackerGone)
    if (!ready) throw new Error('the attacker did not get ready (it prepares payloads and room state first)')

    healthy.startTyping()
    await sleep(WARMUP_MS)
    await readProbe(server.child, 2_000, true)
    // /health reports the event loop over its last 60 s (servers before #19: since the previous
    // answer, and this read starts that window).
    await readHealth(server.port, 2_000)
    const windowEnd = Date.now() + seconds * 1_000
    child.send({ aliceId: healthy.typist.clientID })
    const done = await until(
      () => messages.some((m) => m.type === 'done'),
      seconds * 1_000 + ATTACKER_GRACE_MS,
      attackerGone,
    )
    // The healthy room types through the whole window, even when the attack ends early.
    await sleep(windowEnd - Date.now())
    healthy.stopTyping()
    const result = messages.find((m) => m.type === 'done')?.result
    row.attacker = result
      ? Object.entries(result.outcomes)
          .map(([label, n]) => `${label}×${n}`)
          .join(', ') || 'nothing'
      : done
        ? 'attacker exited without a report'
        : 'attacker timed out'
    if (result) notes.push(...result.notes)

    // Settle: the healthy room catches up, unless the server is gone.
    await until(() => healthy!.complete || !server!.alive(), settleSeconds * 1_000)
    row.editsSent = healthy.sent
    row.editsLost = healthy.sent - healthy.delays.length
    row.editDelayMaxMs = healthy.delays.length ? Math.round(Math.max(...healthy.delays)) : null
    const p99 = percentile(healthy.delays, 99)
    row.editDelayP99Ms = p99 === null ? null : Math.round(p99)
    row.healthyTextComplete = healthy.complete
    row.healthyPresenceIntact = healthy.presenceIntact

    if (!server.alive()) {
      row.server = 'server died'
      row.serverDetail = `${await server.exited}; ${lastError(server.tail)}`
    } else {
      const health = await readHealth(server.port, 5_000)
      if (!health) {
        row.server = 'timed out'
        row.serverDetail = '/health did not answer within 5 s'
      } else if (health.eventLoop) {
        row.stallMaxMs = Math.round(health.eventLoop.maxDelayMs)
        row.stallP99Ms = Math.round(health.eventLoop.p99DelayMs)
        row.stallSource = 'health'
      }
      if (row.stallSource === null) {
        const sample = await readProbe(server.child, 5_000)
        if (sample) {
          row.stallMaxMs = Math.round(sample.loopDelayMaxMs)
          row.stallP99Ms = Math.round(sample.loopDelayP99Ms)
          row.stallSource = 'probe'
        }
      }
      row.peakRssMb = peakRssMb(pid) ?? row.peakRssMb
    }
  } catch (err) {
    row.server = server && !server.alive() ? 'server died' : 'timed out'
    row.serverDetail = `${err instanceof Error ? err.message : String(err)}${server && !server.alive() ? `; ${lastError(server.tail)}` : ''}`
  } finally {
    if (rssTimer) clearInterval(rssTimer)
    healthy?.destroy()
    if (attacker && attacker.exitCode === null && attacker.signalCode === null) attacker.kill('SIGKILL')
    if (server?.alive()) {
      server.child.kill('SIGKILL')
      await server.exited
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
  if (row.peakRssMb !== null) row.peakRssMb = Math.round(row.peakRssMb)
  row.notes = notes.join('; ')
  return row
}

/** The reason a crashed server gave: its uncaught error line, else its last error log, else its last line. */
function lastError(tail: string[]): string {
  const reversed = [...tail].reverse()
  const uncaught = reversed.find((line) => /^(\w*Error\b|FATAL ERROR)/.test(line))
  if (uncaught) return uncaught.slice(0, 160)
  for (const line of reversed) {
    try {
      const entry = JSON.parse(line)
      if (entry.level >= 50) return String(entry.err?.message ?? entry.msg).slice(0, 160)
    } catch {}
  }
  return (tail.at(-1) ?? '').slice(0, 160)
}

/** Polls `condition` every 20 ms until it holds (true), `timeoutMs` passes or `abort` settles (false). */
async function until(
  condition: () => boolean,
  timeoutMs: number,
  abort?: Promise<unknown>,
): Promise<boolean> {
  let aborted = false
  void abort?.then(() => {
    aborted = true
  })
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (aborted || Date.now() > deadline) return condition()
    await sleep(20)
  }
  return true
}

function renderTable(rows: Row[]): string {
  const cell = (value: unknown) => (value === null || value === undefined ? '–' : String(value))
  const header =
    '| class | attack | server | attacker ended | stall max / p99 (ms) | peak RSS (MB) | edit delay max / p99 (ms) | edits lost | text complete | presence intact | notes |'
  const lines = rows.map((r) =>
    [
      r.class,
      r.attack,
      r.server + (r.serverDetail ? ` (${r.serverDetail})` : ''),
      r.attacker,
      r.stallMaxMs === null ? '–' : `${r.stallMaxMs} / ${r.stallP99Ms} (${r.stallSource})`,
      cell(r.peakRssMb),
      `${cell(r.editDelayMaxMs)} / ${cell(r.editDelayP99Ms)}`,
      `${r.editsLost}/${r.editsSent}`,
      r.healthyTextComplete ? 'yes' : 'no',
      r.healthyPresenceIntact ? 'yes' : 'no',
      r.notes,
    ]
      .map((c) => String(c).replaceAll('|', '\\|'))
      .join(' | '),
  )
  return [header, `|${' --- |'.repeat(11)}`, ...lines.map((l) => `| ${l} |`)].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      classes: { type: 'string', default: CLASSES.map((c) => c.id).join(',') },
      seconds: { type: 'string', default: '5' },
      'settle-seconds': { type: 'string', default: '30' },
      out: { type: 'string', default: join(root, 'bench/results/hostile.json') },
      attacker: { type: 'string' },
      port: { type: 'string' },
    },
  })
  const seconds = Number(values.seconds)
  if (!(seconds > 0)) throw new TypeError(`--seconds must be a positive number, got ${values.seconds}`)
  if (values.attacker) return runAttacker(values.attacker, Number(values.port), seconds)

  const classes = values
    .classes!.split(',')
    .map((c) => c.trim())
    .flatMap((c) => (c === '4' ? ['4a', '4b', '4c'] : c === 'baseline' ? ['0'] : [c]))
  const known = CLASSES.map((c) => c.id)
  for (const c of classes)
    if (!known.includes(c)) throw new TypeError(`unknown class "${c}" (known: ${known})`)
  const rows: Row[] = []
  for (const cls of classes) {
    process.stderr.write(`class ${cls}: ${CLASSES.find((c) => c.id === cls)!.attack}...\n`)
    const row = await runClass(cls, seconds, Number(values['settle-seconds']))
    process.stderr.write(
      `  ${row.server}${row.serverDetail ? ` (${row.serverDetail})` : ''}; attacker: ${row.attacker}\n`,
    )
    rows.push(row)
  }
  process.stdout.write(`${renderTable(rows)}\n`)
  mkdirSync(dirname(values.out!), { recursive: true })
  writeFileSync(
    values.out!,
    `${JSON.stringify({ generatedAt: new Date().toISOString(), node: process.version, seconds, rows }, null, 2)}\n`,
  )
  process.stderr.write(`wrote ${values.out}\n`)
  process.exit(0)
}

await main()
