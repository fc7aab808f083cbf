/**
 * `npm run bench:hostile [-- --classes 0,1,...,r2-1a,...] [--seconds N] [--settle-seconds N] [--out FILE]`
 *
 * Replays each class of hostile input (round 1: the issue "hostile input can kill the server",
 * class 0 is a baseline with no attack and 4 means 4a,4b,4c; round 2, ids `r2-…` or `r2` for all:
 * issue #19) against a fresh system: one `server/main.ts` process, or several on a fresh PostgreSQL
 * database and Redis prefix when the class says so (skipped, with the reason, when those services
 * are unreachable), while a healthy room is busy on the last instance: a stock client types
 * 20 edits/s and a second stock client in the same room times each edit's arrival. The attacker
 * (bench/hostile-attacks.ts) runs in its own process (this file with `--attacker`), so building and
 * reading its payloads never delays the healthy clients.
 *
 * Per class it reports: whether the servers survived (or died, or stopped answering), how the
 * attacker's connections ended, the longest event-loop stall of any instance from the window's
 * start to the end of the settling (bench/relay/probe.ts, preloaded into each server and reset when
 * the attack starts; /health's own 60 s figure, which also spans the preparation, is kept in the
 * JSON), the stalls the servers logged with what ran around them, their peak RSS (VmHWM from /proc),
 * the healthy room's max and p99 edit delay, edits that never arrived, and whether the healthy
 * room's text and presence are intact at the end. Prints a markdown table and writes
 * bench/results/hostile.json (or --out). Every phase has a deadline, so a server that dies or hangs
 * is reported, never waited on forever.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { type AttackResult, benchToken, sleep, stockProvider, type Target } from './hostile-attacker.ts'
import { CLASSES, makeAttack } from './hostile-attacks.ts'
import {
  HOST,
  lastError,
  peakRssMb,
  readHealth,
  readProbe,
  type ServerOptions,
  type ServerProcess,
  startServerProcess,
} from './hostile-server.ts'
import { openServices, type RunServices, unreachable } from './relay/services.ts'

const root = join(import.meta.dirname, '..')
const EDITS_PER_SECOND = 20
const WARMUP_MS = 1_000
/** How long past its window an attack may take to report (class 4b waits until its frames are delivered). */
const ATTACKER_GRACE_MS = 90_000

/** Attacker process (`--attacker CLASS`): prepare, say ready, wait for go, attack, report, exit. */
async function runAttacker(id: string, target: Target, seconds: number): Promise<void> {
  const result: AttackResult = { outcomes: {}, notes: [] }
  const attack = makeAttack(id, target, result)
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
  /** "survived", "server died", "timed out" (alive but /health did not answer) or "skipped". */
  server: string
  serverDetail: string
  attacker: string
  /** The worst instance's event-loop delay from the window's start to the end of the settling. */
  stallMaxMs: number | null
  stallP99Ms: number | null
  stallSource: 'health' | 'probe' | null
  /** The worst instance's /health figure (its last 60 s: the preparation too). */
  stallHealthMaxMs: number | null
  /** Stalls of at least stallWarnMs the servers logged in the window (worst first), with what ran around them. */
  loggedStalls: Array<{ instance: number; ms: number; around: string[] }>
  /** The largest peak RSS of any instance. */
  peakRssMb: number | null
  editDelayMaxMs: number | null
  editDelayP99Ms: number | null
  editsSent: number
  editsLost: number
  healthyTextComplete: boolean
  healthyPresenceIntact: boolean
  notes: string
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

  constructor(url: string, params: Record<string, string>) {
    this.typistProvider = stockProvider(url, 'healthy', this.typist, true, params)
    this.witnessProvider = stockProvider(url, 'healthy', this.witness, true, params)
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

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

/** Starts a server, retrying once (seen once right after a class whose server grew to gigabytes). */
async function startWithRetry(options: ServerOptions, notes: string[]): Promise<ServerProcess> {
  return startServerProcess(options).catch((err: Error) => {
    notes.push(`server start retried after: ${err.message.slice(0, 80)}`)
    return startServerProcess(options)
  })
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
    stallHealthMaxMs: null,
    loggedStalls: [],
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
  const instances = spec.instances ?? 1
  if (spec.services) {
    const why = await unreachable(spec.services)
    if (why) {
      row.server = 'skipped'
      row.serverDetail = why
      return row
    }
  }
  const dir = spec.sqlite ? mkdtempSync(join(tmpdir(), 'tandem-hostile-')) : null
  let services: RunServices | null = null
  const servers: ServerProcess[] = []
  const peaks: Array<number | null> = []
  let healthy: HealthyRoom | null = null
  let attacker: ChildProcess | null = null
  let rssTimer: NodeJS.Timeout | null = null
  const readPeaks = () =>
    servers.forEach((server, i) => {
      peaks[i] = peakRssMb(server.child.pid!) ?? peaks[i] ?? null
    })
  try {
    if (spec.services) services = await openServices(spec.services)
    const options: ServerOptions = {
      sqliteDir: dir,
      services,
      auth: spec.auth ?? false,
      extraArgs: spec.serverArgs ?? [],
    }
    for (let i = 0; i < instances; i++) servers.push(await startWithRetry(options, notes))
    rssTimer = setInterval(readPeaks, 200)
    const url = `ws://${HOST}:${servers.at(-1)!.port}`
    healthy = new HealthyRoom(url, spec.auth ? { token: await benchToken('healthy', 'edit') } : {})
    if (!(await healthy.synced(10_000))) throw new Error('the healthy room did not sync')

    attacker = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        import.meta.filename,
        '--attacker',
        cls,
        '--ports',
        servers.map((server) => server.port).join(','),
        '--seconds',
        String(seconds),
        ...(dir ? ['--data-dir', dir] : []),
        ...(spec.auth ? ['--auth'] : []),
      ],
      { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    )
    const child = attacker
    const messages: Array<{ type: string; result?: AttackResult }> = []
    child.on('message', (message: { type: string }) => messages.push(message))
    const attackerGone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    const ready = await until(() => messages.some((m) => m.type === 'ready'), 180_000, attackerGone)
    if (!ready) throw new Error('the attacker did not get ready (it prepares payloads and room state first)')

    healthy.startTyping()
    await sleep(WARMUP_MS)
    await Promise.all(servers.map((server) => readProbe(server.child, 2_000, true)))
    const windowStart = Date.now()
    const windowEnd = windowStart + seconds * 1_000
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

    // Settle: the healthy room catches up, unless a server is gone.
    await until(() => healthy!.complete || servers.some((server) => !server.alive()), settleSeconds * 1_000)
    row.editsSent = healthy.sent
    row.editsLost = healthy.sent - healthy.delays.length
    row.editDelayMaxMs = healthy.delays.length ? Math.round(Math.max(...healthy.delays)) : null
    const p99 = percentile(healthy.delays, 99)
    row.editDelayP99Ms = p99 === null ? null : Math.round(p99)
    row.healthyTextComplete = healthy.complete
    row.healthyPresenceIntact = healthy.presenceIntact

    const perInstance: string[] = []
    for (const [i, server] of servers.entries()) {
      const name = instances > 1 ? `instance ${'AB'[i] ?? i}: ` : ''
      if (!server.alive()) {
        row.server = 'server died'
        row.serverDetail += `${name}${await server.exited}; ${lastError(server.tail)} `
        continue
      }
      const health = await readHealth(server.port, 5_000)
      if (!health) {
        row.server = 'timed out'
        row.serverDetail += `${name}/health did not answer within 5 s `
      }
      const sample = await readProbe(server.child, 5_000)
      const stall = sample ? sample.loopDelayMaxMs : (health?.eventLoop?.maxDelayMs ?? null)
      const stallP99 = sample ? sample.loopDelayP99Ms : (health?.eventLoop?.p99DelayMs ?? null)
      if (stall !== null && (row.stallMaxMs === null || stall > row.stallMaxMs)) {
        row.stallMaxMs = Math.round(stall)
        row.stallSource = sample ? 'probe' : 'health'
      }
      if (stallP99 !== null) row.stallP99Ms = Math.max(row.stallP99Ms ?? 0, Math.round(stallP99))
      const healthMax = health?.eventLoop?.maxDelayMs
      if (typeof healthMax === 'number') {
        row.stallHealthMaxMs = Math.max(row.stallHealthMaxMs ?? 0, Math.round(healthMax))
      }
      for (const logged of server.stalls) {
        if (logged.at >= windowStart)
          row.loggedStalls.push({ instance: i, ms: logged.ms, around: logged.around })
      }
      readPeaks()
      if (instances > 1) {
        perInstance.push(
          `${name}stall ${stall === null ? '–' : Math.round(stall)} ms, peak RSS ${Math.round(peaks[i] ?? 0)} MB`,
        )
      }
    }
    notes.push(...perInstance)
    row.loggedStalls.sort((x, y) => y.ms - x.ms)
    const worst = row.loggedStalls[0]
    if (worst) {
      notes.push(
        `${row.loggedStalls.length} stall(s) logged; worst ${worst.ms} ms${instances > 1 ? ` on ${'AB'[worst.instance]}` : ''}` +
          ` around: ${worst.around.join(', ') || 'nothing recorded'}`,
      )
    }
  } catch (err) {
    const dead = servers.find((server) => !server.alive())
    row.server = dead ? 'server died' : 'timed out'
    row.serverDetail = `${err instanceof Error ? err.message : String(err)}${dead ? `; ${lastError(dead.tail)}` : ''}`
  } finally {
    if (rssTimer) clearInterval(rssTimer)
    readPeaks()
    healthy?.destroy()
    if (attacker && attacker.exitCode === null && attacker.signalCode === null) attacker.kill('SIGKILL')
    for (const server of servers) {
      if (!server.alive()) continue
      server.child.kill('SIGKILL')
      await server.exited
    }
    await services?.drop().catch((err: Error) => notes.push(`services not dropped: ${err.message}`))
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
  const known = peaks.filter((peak): peak is number => peak !== null)
  row.peakRssMb = known.length ? Math.round(Math.max(...known)) : null
  row.serverDetail = row.serverDetail.trim()
  row.notes = notes.join('; ')
  return row
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
      ports: { type: 'string' },
      'data-dir': { type: 'string' },
      auth: { type: 'boolean', default: false },
    },
  })
  const seconds = Number(values.seconds)
  if (!(seconds > 0)) throw new TypeError(`--seconds must be a positive number, got ${values.seconds}`)
  if (values.attacker) {
    const target: Target = {
      ports: values.ports!.split(',').map(Number),
      dataDir: values['data-dir'] ?? null,
      auth: values.auth!,
    }
    return runAttacker(values.attacker, target, seconds)
  }

  const classes = values
    .classes!.split(',')
    .map((c) => c.trim())
    .flatMap((c) =>
      c === '4'
        ? ['4a', '4b', '4c']
        : c === 'baseline'
          ? ['0']
          : c === 'r2'
            ? CLASSES.filter((spec) => spec.id.startsWith('r2-')).map((spec) => spec.id)
            : [c],
    )
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
