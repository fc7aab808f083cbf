/**
 * The engines benchmark: replays editing traces through our OT type (rope apply), ot-text-unicode (the
 * published ottypes text type, string snapshots), a plain JS string splice (the floor) and Yjs (one
 * transaction per edit, like crdt-benchmarks B4), and the concurrent traces through OT (server + Jupiter
 * links) and Yjs (one doc per agent). Times are medians of `runs` after a short untimed warm-up; a slow engine stops repeating once its
 * runs on a trace exceed `budgetMs`. Heap figures need node --expose-gc (null otherwise).
 */
import { type as otUnicode } from 'ot-text-unicode'
import * as Y from 'yjs'
import { apply, Rope, replayConcurrentOT, spliceOp, type TextOp } from '../../shared/ot/index.ts'
import { loadConcurrentTrace, loadSequentialTrace, type Patch } from '../../tests/helpers/traces.ts'
import { replayConcurrentYjs, replaySequentialYjs } from './replay-yjs.ts'

/** What to run. */
export interface EngineBenchConfig {
  sequential: string[]
  concurrent: string[]
  runs: number
  budgetMs: number
  /** Replay only the first `limit` edits of each sequential trace (for smoke runs). */
  limit?: number
}

/** Figures for one engine on one sequential trace. */
export interface EngineResult {
  engine: string
  medianMs: number
  runs: number
  opsPerSec: number
  /** Mean bytes of one edit as sent (OT: the JSON op; Yjs: the V1 update); null for the plain string. */
  bytesPerUpdate: number | null
  /** Stored bytes: Yjs V1 and V2 snapshots; OT snapshot (UTF-8 text) + op log (JSON). */
  storedBytes: Record<string, number>
  /** Heap retained by the final document structure after GC, or null without --expose-gc. */
  retainedHeapBytes: number | null
  correct: boolean
}

/** Figures for one concurrent trace. */
export interface ConcurrentResult {
  trace: string
  txns: number
  otMs: number
  otTransforms: number
  otMatchesEndContent: boolean
  yjsMs: number
  yjsMatchesEndContent: boolean
}

/** All results. */
export interface EngineBenchResults {
  node: string
  date: string
  sequential: { trace: string; edits: number; finalLength: number; engines: EngineResult[] }[]
  concurrent: ConcurrentResult[]
}

const gc = (globalThis as { gc?: () => void }).gc
const utf8 = (s: string) => Buffer.byteLength(s, 'utf8')
const heapUsed = () => {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

interface Engine {
  name: string
  /** Replays the patches; returns the final structure (kept alive for the heap figure) and its text. */
  replay(patches: Patch[]): { keep: unknown; text: string }
  sizes(
    patches: Patch[],
    keep: unknown,
  ): { bytesPerUpdate: number | null; storedBytes: Record<string, number> }
}

const opLogSizes = (patches: Patch[], text: string) => {
  let log = 0
  for (const [p, d, i] of patches) log += utf8(JSON.stringify(spliceOp(p, d, i)))
  return { bytesPerUpdate: log / patches.length, storedBytes: { snapshot: utf8(text), opLog: log } }
}

const engines: Engine[] = [
  {
    name: 'tandem OT (rope)',
    replay(patches) {
      const rope = new Rope()
      for (const [p, d, i] of patches) apply(rope, spliceOp(p, d, i))
      return { keep: rope, text: rope.toString() }
    },
    sizes: (patches, keep) => opLogSizes(patches, String(keep)),
  },
  {
    name: 'ot-text-unicode',
    replay(patches) {
      let s = ''
      for (const [p, d, i] of patches) s = otUnicode.apply(s, spliceOp(p, d, i) as TextOp as never)
      return { keep: s, text: s }
    },
    sizes: (patches, keep) => opLogSizes(patches, String(keep)),
  },
  {
    name: 'plain string splice',
    replay(patches) {
      let s = ''
      for (const [p, d, i] of patches) s = s.slice(0, p) + i + s.slice(p + d)
      return { keep: s, text: s }
    },
    sizes: (_patches, keep) => ({ bytesPerUpdate: null, storedBytes: { snapshot: utf8(String(keep)) } }),
  },
  {
    name: 'Yjs',
    replay(patches) {
      const doc = replaySequentialYjs(patches)
      return { keep: doc, text: doc.getText('text').toString() }
    },
    sizes(patches) {
      let bytes = 0
      const doc = replaySequentialYjs(patches, (u) => {
        bytes += u.length
      })
      return {
        bytesPerUpdate: bytes / patches.length,
        storedBytes: { v1: Y.encodeStateAsUpdate(doc).length, v2: Y.encodeStateAsUpdateV2(doc).length },
      }
    },
  },
]

/** Holds the measured structure so it stays reachable while the heap is read. */
let sink: unknown = null

/** Heap growth from building one final document (structures left from earlier runs cancel out). */
function measureRetained(engine: Engine, patches: Patch[]): number {
  sink = null
  const before = heapUsed()
  sink = engine.replay(patches).keep
  const after = heapUsed()
  if (sink === undefined) throw new Error('replay returned nothing')
  return after - before
}

/** Runs the benchmark; `log` receives progress lines. */
export function runEngineBench(config: EngineBenchConfig, log: (line: string) => void): EngineBenchResults {
  const results: EngineBenchResults = {
    node: process.version,
    date: new Date().toISOString(),
    sequential: [],
    concurrent: [],
  }
  for (const trace of config.sequential) {
    const t = loadSequentialTrace(trace)
    const patches = t.txns.flatMap((x) => x.patches).slice(0, config.limit)
    const expected = config.limit === undefined ? t.endContent : engines[2].replay(patches).text
    const row: EngineResult[] = []
    for (const engine of engines) {
      const times: number[] = []
      let correct = true
      const retained = gc ? measureRetained(engine, patches) : null
      let spent = 0
      engine.replay(patches.slice(0, 20_000)) // warm up the JIT (untimed)
      while (times.length < config.runs && (times.length === 0 || spent < config.budgetMs)) {
        const start = performance.now()
        const { text } = engine.replay(patches)
        const ms = performance.now() - start
        times.push(ms)
        spent += ms
        correct &&= text === expected
      }
      const sizes = engine.sizes(patches, expected)
      const medianMs = median(times)
      row.push({
        engine: engine.name,
        medianMs,
        runs: times.length,
        opsPerSec: patches.length / (medianMs / 1000),
        ...sizes,
        retainedHeapBytes: retained,
        correct,
      })
      log(`${trace} ${engine.name}: ${medianMs.toFixed(1)} ms (${times.length} runs)`)
    }
    results.sequential.push({ trace, edits: patches.length, finalLength: expected.length, engines: row })
  }
  for (const trace of config.concurrent) {
    const t = loadConcurrentTrace(trace)
    const otTimes: number[] = []
    const yjsTimes: number[] = []
    let ot = replayConcurrentOT(t)
    let yjs = replayConcurrentYjs(t)
    for (let r = 0; r < config.runs; r++) {
      let start = performance.now()
      ot = replayConcurrentOT(t)
      otTimes.push(performance.now() - start)
      start = performance.now()
      yjs = replayConcurrentYjs(t)
      yjsTimes.push(performance.now() - start)
    }
    results.concurrent.push({
      trace,
      txns: t.txns.length,
      otMs: median(otTimes),
      otTransforms: ot.transforms,
      otMatchesEndContent: ot.replicas.every((s) => s === t.endContent),
      yjsMs: median(yjsTimes),
      yjsMatchesEndContent: yjs.replicas.every((s) => s === t.endContent),
    })
    log(`${trace} concurrent: OT ${median(otTimes).toFixed(0)} ms, Yjs ${median(yjsTimes).toFixed(0)} ms`)
  }
  return results
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`

/** Retained heap below this is within the noise of measuring it in a process that also ran the others. */
const HEAP_NOISE_BYTES = 256 * 1024

/** A retained-heap figure, or "noise" when it is too small (or negative) to mean anything. */
const heapCell = (bytes: number | null) =>
  bytes === null ? '-' : bytes < HEAP_NOISE_BYTES ? '< 256 kB (noise)' : kb(bytes)

/** The results as Markdown tables. */
export function resultsTable(results: EngineBenchResults): string {
  const lines = [
    '| trace (edits) | engine | median time | ops/s | bytes/update | stored | retained heap |',
    '| --- | --- | ---: | ---: | ---: | --- | ---: |',
  ]
  for (const s of results.sequential) {
    for (const e of s.engines) {
      const stored = Object.entries(e.storedBytes)
        .map(([k, v]) => `${k} ${kb(v)}`)
        .join(', ')
      lines.push(
        `| ${s.trace} (${s.edits.toLocaleString('en')}) | ${e.engine}${e.correct ? '' : ' (WRONG RESULT)'} | ` +
          `${e.medianMs.toFixed(1)} ms | ${Math.round(e.opsPerSec).toLocaleString('en')} | ` +
          `${e.bytesPerUpdate === null ? '-' : e.bytesPerUpdate.toFixed(1)} | ${stored} | ` +
          `${heapCell(e.retainedHeapBytes)} |`,
      )
    }
  }
  lines.push(
    '',
    '| concurrent trace (txns) | OT replay | OT transforms | OT = endContent | Yjs replay | Yjs = endContent |',
    '| --- | ---: | ---: | --- | ---: | --- |',
  )
  for (const c of results.concurrent) {
    lines.push(
      `| ${c.trace} (${c.txns.toLocaleString('en')}) | ${c.otMs.toFixed(0)} ms | ${c.otTransforms.toLocaleString('en')} | ` +
        `${c.otMatchesEndContent ? 'yes' : 'no (see docs/ot.md)'} | ${c.yjsMs.toFixed(0)} ms | ${c.yjsMatchesEndContent ? 'yes' : 'no'} |`,
    )
  }
  return lines.join('\n')
}
