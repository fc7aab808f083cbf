/**
 * `npx tsx bench/relay/idle-memory.ts [--counts 2000,10000] [--repeats 3] [--rooms-of 10]
 * [--systems tandem-durable,raw-relay] [--tandem-ref COMMIT] [--settle-seconds 2] [--server-node-arg FLAG]...`
 *
 * What a quiet WebSocket connection costs each server: Tandem as `npm start` runs it (durable
 * SQLite, bundled like bench:relay's, ./build.ts) beside the raw `ws` relay (the floor) and any
 * other system of ./systems.ts. For each count N, a fresh server process; N stock y-websocket-
 * protocol clients (./generator.ts), in rooms of 10, connect, sync, announce their presence and
 * go quiet; RSS and V8 heap are read from inside the server after forced GCs (./probe.ts) before
 * and 2 s after, and the growth divided by N. Each figure is the median of `--repeats` runs; it
 * includes each room's share (a room's document, awareness and store state, divided by its 10
 * members). Prints one table; `--tandem-ref` measures Tandem at a commit (before/after a change).
 *
 * RSS read 2 s after a burst of connections holds the young generation the burst touched (V8's
 * semi-spaces, up to 2 x 16 MiB, a fixed cost that is not the connections': at 2,000 it is 6-9 KB of
 * each figure, much less at 10,000), and V8's memory reducer gives it back after some seconds of
 * quiet, sometimes below where the process started (`--settle-seconds 20` can show less RSS than
 * heap). `--server-node-arg --max-semi-space-size=2` caps it for both systems; the heap column,
 * and RSS at 10,000, are what the connections themselves hold.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadSequentialTrace } from '../../tests/helpers/traces.ts'
import { buildBundles, describeTandem } from './build.ts'
import { editScript, TRACE_NAME } from './edit-script.ts'
import { GeneratorProcess } from './generator-process.ts'
import { pinning, SYSTEMS, serverPlacement, startSystem } from './systems.ts'
import { median } from './workloads.ts'

const { values } = parseArgs({
  options: {
    counts: { type: 'string', default: '2000,10000' },
    repeats: { type: 'string', default: '3' },
    'rooms-of': { type: 'string', default: '10' },
    systems: { type: 'string', default: 'tandem-durable,raw-relay' },
    'tandem-ref': { type: 'string' },
    'settle-seconds': { type: 'string', default: '2' },
    'server-node-arg': { type: 'string', multiple: true },
  },
})
const counts = values.counts.split(',').map(Number)
const repeats = Number(values.repeats)
const roomSize = Number(values['rooms-of'])
const settleMs = Number(values['settle-seconds']) * 1000
const nodeArgs = values['server-node-arg'] ?? []
const specs = values.systems.split(',').map((name) => {
  const spec = SYSTEMS.find((s) => s.name === name)
  if (!spec) throw new Error(`unknown system ${name}`)
  return spec
})

interface Figure {
  rss: number
  heap: number
}

const pin = pinning()
const paths = await buildBundles(values['tandem-ref'] ?? null)
process.once('exit', () => rmSync(paths.dir, { recursive: true, force: true }))
const script = editScript(TRACE_NAME, loadSequentialTrace(TRACE_NAME))
console.log(
  `${describeTandem(values['tandem-ref'] ?? null)}; rooms of ${roomSize}; read ${settleMs / 1000} s after the ` +
    `last connection; median of ${repeats}${nodeArgs.length ? `; node ${nodeArgs.join(' ')}` : ''}`,
)

/** One fresh server with `count` idle clients: its RSS and heap growth per connection. */
async function once(spec: (typeof SYSTEMS)[number], count: number): Promise<Figure> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-idle-memory-'))
  const system = await startSystem(spec, dir, paths, pin, nodeArgs)
  const generator = new GeneratorProcess(paths.generator, serverPlacement(pin, 1)?.generator ?? null)
  try {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const before = await system.sample({ gc: true })
    const rooms = Math.ceil(count / roomSize)
    const connected = await generator.request<{ type: string; clients: number }>(
      {
        cmd: 'connect',
        bases: system.bases,
        dialect: spec.dialect,
        rooms: Array.from({ length: rooms }, (_, i) => `idle-${i}`),
        clientsPerRoom: roomSize,
        presence: true,
        serverSyncs: spec.serverSyncs,
        script,
      },
      'connected',
      600_000,
    )
    await new Promise((resolve) => setTimeout(resolve, settleMs))
    const after = await system.sample({ gc: true })
    return {
      rss: (after.rssBytes - before.rssBytes) / connected.clients,
      heap: (after.heapUsedBytes - before.heapUsedBytes) / connected.clients,
    }
  } finally {
    await generator.close()
    await system.stop()
    rmSync(dir, { recursive: true, force: true })
    const stderr = system.stderr.trim()
    if (stderr) console.log(`  ${spec.name} stderr: ${stderr.slice(0, 600)}`)
  }
}

const rows: string[][] = [['system', 'connections', 'RSS B/conn', 'heap B/conn', 'RSS runs', 'x raw RSS']]
const rawRss = new Map<number, number>()
const results: Array<{ system: string; count: number; rss: number; heap: number; runs: number[] }> = []
for (const count of counts) {
  for (const spec of specs) {
    const figures: Figure[] = []
    for (let i = 0; i < repeats; i++) {
      const figure = await once(spec, count)
      console.log(`  ${spec.name} x${count} run ${i + 1}: ${fmtB(figure.rss)} RSS, ${fmtB(figure.heap)} heap`)
      figures.push(figure)
    }
    const rss = median(figures.map((f) => f.rss))
    const heap = median(figures.map((f) => f.heap))
    if (spec.name === 'raw-relay') rawRss.set(count, rss)
    results.push({ system: spec.name, count, rss, heap, runs: figures.map((f) => f.rss) })
  }
}
for (const r of results) {
  const raw = rawRss.get(r.count)
  rows.push([
    r.system,
    String(r.count),
    fmtB(r.rss),
    fmtB(r.heap),
    r.runs.map(fmtB).join(' '),
    raw ? (r.rss / raw).toFixed(2) : '-',
  ])
}
const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)))
for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '))

function fmtB(bytes: number): string {
  return Math.round(bytes).toLocaleString('en-US')
}
