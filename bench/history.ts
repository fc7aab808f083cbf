/**
 * What history costs (npm run bench:history; docs/performance.md "History"):
 *
 * 1. Storage: the automerge-paper trace (259,778 edits) replayed as one version every 100 edits
 *    (~2,600 versions) through the version chain (server/history/version-chain.ts: ops composed
 *    from the edits, checkpoints by the rule) into the SQLite version log, against the document's
 *    full update history: every edit as its own Yjs update, summed, and as SQLite's `updates`
 *    table keeps them (same layout as sqlite-store.ts). Every 100th version is rebuilt and checked.
 *    Also what other checkpoint ratios would store (the rule's tuning).
 * 2. Making a version of a 1 MiB document: a checkpoint (the whole text) and ops of 100 edits
 *    each, until the chain is as long as the rule lets it grow, and rebuilding its last version.
 * 3. (unless --no-stall; --stall-runs 3 by default) The event-loop stalls of a server (child process, SQLite) while a stock
 *    client types into a 1 MiB document (50 edits/s) and versions are made every 2 s (the first
 *    the whole text), against the same run with history idle: the server's own stall log
 *    (--stall-warn-ms 10).
 *
 * Results go to bench/results/history.json.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import * as prng from 'lib0/prng'
import type { ChainTip } from '../server/history/version-chain.ts'
import {
  CHECKPOINT_RATIO,
  composeAll,
  nextContent,
  rebuildText,
  rebuildTextSliced,
} from '../server/history/version-chain.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { SqliteVersionLog } from '../server/store/sqlite-version-log.ts'
import { encodeContent } from '../server/store/version-checks.ts'
import { apply } from '../shared/ot/apply.ts'
import { spliceOp, type TextOp } from '../shared/ot/op.ts'
import { Rope } from '../shared/ot/rope.ts'
import { connectClient, spawnServer, synced, waitFor } from '../tests/helpers/relay.ts'
import { loadSequentialTrace, repoRoot } from '../tests/helpers/traces.ts'
import { replaySequentialYjs } from './lib/replay-yjs.ts'

const { values: flags } = parseArgs({
  options: {
    'no-stall': { type: 'boolean', default: false },
    'stall-seconds': { type: 'string', default: '20' },
    'stall-only': { type: 'boolean', default: false },
    'stall-runs': { type: 'string', default: '3' },
  },
})

const EDITS_PER_VERSION = 100
const MiB = 1024 * 1024
const ROOM = 'bench'

const temp = mkdtempSync(path.join(tmpdir(), 'tandem-bench-history-'))
process.on('exit', () => rmSync(temp, { recursive: true, force: true }))

/** Bytes each table (and index) of `db` takes on disk, by name. */
function tableBytes(db: Database.Database): Record<string, number> {
  const rows = db
    .prepare<[], { name: string; bytes: number }>(
      'SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name',
    )
    .all()
  return Object.fromEntries(rows.map(({ name, bytes }) => [name, bytes]))
}

const ms = (start: number) => Math.round((performance.now() - start) * 100) / 100
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

async function storage() {
  const trace = loadSequentialTrace('automerge-paper')
  const patches = trace.txns.flatMap((txn) => txn.patches)

  // The full update history: one Yjs update per edit.
  const updates: Uint8Array[] = []
  replaySequentialYjs(patches, (update) => updates.push(update))
  const updateBytes = updates.reduce((sum, update) => sum + update.byteLength, 0)
  const logDb = new Database(path.join(temp, 'updates.db'))
  logDb.exec(
    'CREATE TABLE updates (room TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID',
  )
  const insert = logDb.prepare('INSERT INTO updates (room, seq, data) VALUES (?, ?, ?)')
  logDb.transaction(() => {
    for (let seq = 0; seq < updates.length; seq++) insert.run(ROOM, seq, updates[seq])
  })()
  const updatesTableBytes = tableBytes(logDb).updates
  logDb.close()

  // The history: a version every 100 edits.
  const db = new Database(path.join(temp, 'versions.db'))
  const log = new SqliteVersionLog(db)
  const rope = new Rope(trace.startContent)
  let ops: TextOp[] = []
  let tip: ChainTip | null = null
  const perVersion: { opBytes: number; textBytes: number; textJsonBytes: number }[] = []
  let contentBytes = 0
  let checkpoints = 0
  const samples = new Map<number, string>()
  const started = performance.now()
  for (let i = 0; i < patches.length; i++) {
    const [pos, del, ins] = patches[i]
    const op = spliceOp(pos, del, ins)
    apply(rope, op)
    ops.push(op)
    if ((i + 1) % EDITS_PER_VERSION !== 0 && i !== patches.length - 1) continue
    const text = rope.toString()
    const composed = composeAll(ops)
    ops = []
    const { content, opBytes } = nextContent(tip, composed, text)
    const info = await log.addVersion(
      ROOM,
      {
        at: Date.now(),
        changeId: i + 1,
        kind: 'auto',
        name: null,
        length: text.length,
        authors: ['Author'],
        by: null,
        restoredFrom: null,
      },
      content,
    )
    tip = { id: info!.id, opBytes }
    const data = encodeContent(content).data
    contentBytes += Buffer.byteLength(data)
    if ('text' in content) checkpoints++
    perVersion.push({
      opBytes: Buffer.byteLength(JSON.stringify(composed)),
      textBytes: Buffer.byteLength(text),
      textJsonBytes: Buffer.byteLength(JSON.stringify(text)),
    })
    if (info!.id % 100 === 0) samples.set(info!.id, text)
  }
  const replayMs = ms(started)
  for (const [id, text] of samples) {
    if (rebuildText(await log.versionChain(ROOM, id)) !== text) throw new Error(`version ${id} rebuilt wrong`)
  }
  if (rope.toString() !== trace.endContent) throw new Error('the replay did not reach the trace’s end')
  const tables = tableBytes(db)
  db.close()
  const historyTableBytes =
    (tables.versions ?? 0) + (tables.versions_checkpoints ?? 0) + (tables.version_ids ?? 0)

  // The rule's tuning: what other ratios would store, and the most a rebuild reads.
  const ratios = [0.25, 0.5, 1, 2, 4].map((ratio) => {
    let bytes = 0
    let since = -1
    let chainBytes = 0
    let maxRebuildBytes = 0
    let count = 0
    for (const v of perVersion) {
      if (since >= 0 && since + v.opBytes <= ratio * v.textBytes) {
        since += v.opBytes
        bytes += v.opBytes
        chainBytes += v.opBytes
      } else {
        since = 0
        bytes += v.textJsonBytes
        chainBytes = v.textJsonBytes
        count++
      }
      maxRebuildBytes = Math.max(maxRebuildBytes, chainBytes)
    }
    return { ratio, contentBytes: bytes, checkpoints: count, maxRebuildBytes }
  })

  return {
    trace: 'automerge-paper',
    edits: patches.length,
    versions: perVersion.length,
    checkpointRatio: CHECKPOINT_RATIO,
    checkpoints,
    finalTextBytes: Buffer.byteLength(trace.endContent),
    fullUpdateHistory: { updates: updates.length, bytes: updateBytes, sqliteTableBytes: updatesTableBytes },
    history: { contentBytes, sqliteTableBytes: historyTableBytes, tables },
    ratioToUpdates: Math.round((contentBytes / updateBytes) * 1000) / 1000,
    tableRatioToUpdatesTable: Math.round((historyTableBytes / updatesTableBytes) * 1000) / 1000,
    replayMs,
    ratios,
  }
}

/** A 1 MiB text: the paper's final text repeated. */
function megabyteText(): string {
  const paper = loadSequentialTrace('automerge-paper').endContent
  return paper.repeat(Math.ceil(MiB / paper.length)).slice(0, MiB)
}

async function oneMegabyte() {
  const gen = prng.create(1)
  const db = new Database(path.join(temp, 'one-mb.db'))
  const log = new SqliteVersionLog(db)
  const rope = new Rope(megabyteText())
  const facts = (changeId: number, length: number) => ({
    at: Date.now(),
    changeId,
    kind: 'auto' as const,
    name: null,
    length,
    authors: ['Author'],
    by: null,
    restoredFrom: null,
  })
  /** Makes a version of the rope's text: the content by the rule, the store write. */
  async function version(changeId: number, tip: ChainTip | null, op: TextOp | null) {
    const started = performance.now()
    // As the versioner does: the text is copied only for a checkpoint.
    const { content, opBytes } = nextContent(tip, op, { bytes: rope.length, read: () => rope.toString() })
    const info = await log.addVersion(ROOM, facts(changeId, rope.length), content)
    return { tip: { id: info!.id, opBytes }, ms: ms(started), whole: 'text' in content }
  }
  const first = await version(0, null, null)
  let tip = first.tip
  const opTimes: number[] = []
  let versions = 1
  // Versions of 100 edits each at random places (a typist moving around), until the next checkpoint.
  for (let changeId = 1; ; changeId++) {
    const ops: TextOp[] = []
    for (let i = 0; i < EDITS_PER_VERSION; i++) {
      const op = spliceOp(prng.uint32(gen, 0, rope.length - 10), prng.uint32(gen, 0, 3), 'typed')
      apply(rope, op)
      ops.push(op)
    }
    const started = performance.now()
    const made = await version(changeId, tip, composeAll(ops))
    versions++
    if (made.whole) break
    opTimes.push(ms(started))
    tip = made.tip
  }
  let started = performance.now()
  const chain = await log.versionChain(ROOM, tip.id)
  const chainReadMs = ms(started)
  started = performance.now()
  const rebuilt = rebuildText(chain)
  const rebuildMs = ms(started)
  started = performance.now()
  // The longest slice the sliced rebuild runs between turns of the event loop.
  let longest = 0
  let last = performance.now()
  const probe = setInterval(() => {
    longest = Math.max(longest, performance.now() - last)
    last = performance.now()
  }, 1)
  await rebuildTextSliced(chain)
  clearInterval(probe)
  const slicedMs = ms(started)
  db.close()
  return {
    textBytes: MiB,
    checkpointVersionMs: first.ms,
    opVersionMs: { median: median(opTimes), max: Math.max(...opTimes), versions: opTimes.length },
    chainUntilCheckpoint: { versions, chainLength: chain.length },
    chainReadMs,
    rebuildLongestChainMs: rebuildMs,
    rebuildSliced: { totalMs: slicedMs, longestTurnMs: Math.round(longest * 100) / 100 },
    rebuiltBytes: Buffer.byteLength(rebuilt),
  }
}

/** A server in a child process (SQLite at `db`), and its stall log lines (time, ms) as they come. */
async function startServer(db: string, args: string[]) {
  const server = await spawnServer(db, ['--stall-warn-ms', '10', ...args])
  const stalls: { time: number; ms: number }[] = []
  let buffered = ''
  server.process.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      if (!line.includes('"stallMs"')) continue
      const entry = JSON.parse(line)
      stalls.push({ time: entry.time, ms: entry.stallMs })
    }
  })
  /** Stops it as a deployment would (SIGTERM: rooms flushed, the last versions made). */
  const stop = () =>
    new Promise<void>((resolve) => {
      server.process.once('exit', () => resolve())
      server.process.kill('SIGTERM')
    })
  return { port: server.port, stalls, stop }
}

async function stallUnderTyping(seconds: number, history: boolean) {
  const db = path.join(temp, `stall-${history}.db`)
  const args = history
    ? ['--history-quiet-ms', '1500', '--history-max-interval-ms', '2000']
    : ['--history-quiet-ms', '1000000000', '--history-max-interval-ms', '1000000000']
  const server = await startServer(db, args)
  const client = connectClient(`ws://127.0.0.1:${server.port}`, ROOM)
  await synced(client)
  const text = client.doc.getText(ROOM_TEXT)
  text.insert(0, megabyteText())
  // The 1 MiB insert reaches the server and is applied (its own cost is not what is measured);
  // typing starts before the pause would make a version, so the first one, the whole text, is
  // made at the longest interval while typing goes on.
  await new Promise((resolve) => setTimeout(resolve, 1_000))
  const from = Date.now()
  const gen = prng.create(2)
  let at = prng.uint32(gen, 0, text.length)
  let edits = 0
  while (Date.now() - from < seconds * 1000) {
    if (prng.uint32(gen, 0, 99) === 0) at = prng.uint32(gen, 0, text.length)
    text.insert(at++, 'x')
    edits++
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const to = Date.now()
  await waitFor(() => client.provider.wsconnected, 'the client to stay connected')
  // The stall log line of the window's last turns comes out before the server stops.
  await new Promise((resolve) => setTimeout(resolve, 500))
  client.destroy()
  await server.stop()
  const during = server.stalls.filter((stall) => stall.time >= from && stall.time <= to + 100)
  const check = new Database(db, { readonly: true })
  // Made while typing (the last one, on shutdown, after the window).
  const versions = check
    .prepare<[number, number], { n: number; whole: number | null }>(
      'SELECT count(*) AS n, sum(checkpoint) AS whole FROM versions WHERE at >= ? AND at <= ?',
    )
    .get(from, to)
  const versionTimes = check
    .prepare<[number, number], number>('SELECT at FROM versions WHERE at >= ? AND at <= ? ORDER BY id')
    .pluck()
    .all(from, to)
  check.close()
  if (process.env.BENCH_VERBOSE) {
    console.log({
      stalls: during.map((s) => [s.time - from, s.ms]),
      versions: versionTimes.map((at) => at - from),
    })
  }
  return {
    history,
    seconds,
    edits,
    versions: versions?.n ?? 0,
    checkpoints: versions?.whole ?? 0,
    stallsOver10ms: during.length,
    maxStallMs: during.length > 0 ? Math.max(...during.map((stall) => stall.ms)) : '< 10',
    // Stalls that began while a version was being made (its time stamp is taken as it starts).
    maxStallMakingVersionMs: Math.max(
      0,
      ...during
        .filter((stall) =>
          versionTimes.some((at) => stall.time - stall.ms >= at - 20 && stall.time - stall.ms <= at + 100),
        )
        .map((stall) => stall.ms),
    ),
  }
}

const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version }
if (!flags['stall-only']) {
  console.log('storage (automerge-paper, a version every 100 edits) ...')
  results.storage = await storage()
  console.log(JSON.stringify(results.storage, null, 2))
  console.log('a version of a 1 MiB document ...')
  results.oneMegabyte = await oneMegabyte()
  console.log(JSON.stringify(results.oneMegabyte, null, 2))
}
if (!flags['no-stall']) {
  const seconds = Number(flags['stall-seconds'])
  console.log(
    `stalls while typing into a 1 MiB document (${seconds} s each, history idle then versioning) ...`,
  )
  const runs: Awaited<ReturnType<typeof stallUnderTyping>>[][] = []
  for (let run = 0; run < Number(flags['stall-runs']); run++) {
    // Alternating which goes first, so a neighbour's load on this shared machine falls on both.
    const idleFirst = run % 2 === 0
    const first = await stallUnderTyping(seconds, !idleFirst)
    const second = await stallUnderTyping(seconds, idleFirst)
    runs.push(idleFirst ? [first, second] : [second, first])
    console.log(JSON.stringify(runs.at(-1)))
  }
  /** Each run's figure (a run without a stall over 10 ms reads 0). */
  const each = (pick: (pair: (typeof runs)[number]) => number | string) =>
    runs.map((pair) => (typeof pick(pair) === 'number' ? (pick(pair) as number) : 0))
  results.stall = {
    runs,
    maxStallIdleMs: each((pair) => pair[0].maxStallMs),
    maxStallVersioningMs: each((pair) => pair[1].maxStallMs),
    maxStallMakingVersionMs: each((pair) => pair[1].maxStallMakingVersionMs),
  }
  console.log(JSON.stringify(results.stall, null, 2))
}
const out = path.join(repoRoot, 'bench/results/history.json')
mkdirSync(path.dirname(out), { recursive: true })
// A partial run (--stall-only, --no-stall) replaces only the parts it measured, each with its date.
const kept = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {}
for (const part of ['storage', 'oneMegabyte', 'stall']) {
  if (results[part] !== undefined) kept[part] = { date: results.date, ...(results[part] as object) }
}
writeFileSync(out, `${JSON.stringify({ ...kept, node: results.node }, null, 2)}\n`)
console.log(`written to ${path.relative(repoRoot, out)}`)
process.exit(0)
