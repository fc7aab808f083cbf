/**
 * `npm run bench:prices`: checks the admission's work prices (server/admission/update-admission.ts PRICES)
 * against what Yjs really spends. For each workload, hostile and legitimate, it builds the room's
 * document, prices the update as the room would (read the shape, admit it) and then applies it,
 * and reports the median over --runs of: the estimated work, the measured apply time, their ratio
 * (≥ 1 means the price is conservative), what pricing itself cost, and heap bytes per struct.
 * Flags: --runs N (default 5), --out DIR (default bench/results; writes prices.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import * as Y from 'yjs'
import { DeletedIndex } from '../server/admission/deleted-index.ts'
import { admitUpdate } from '../server/admission/update-admission.ts'
import { readUpdateShape } from '../server/admission/update-shape.ts'
import { defaultConfig } from '../server/config/config.ts'
import { backwardsTextUpdate, handItemsUpdate } from '../tests/helpers/hostile.ts'
import { loadSequentialTrace, repoRoot } from '../tests/helpers/traces.ts'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    out: { type: 'string', default: path.join(repoRoot, 'bench/results') },
  },
})
const runs = Number(values.runs)

/** The server's default bounds on client ids, subdocuments and root types. */
const LIMITS = defaultConfig

interface Workload {
  name: string
  /** The room's document before the update, as updates to apply (not measured). */
  base: Uint8Array[]
  update: Uint8Array
}

function docOf(updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  return doc
}

function workloads(): Workload[] {
  const list: Workload[] = []
  list.push({
    name: 'hostile: 20k items typed backwards',
    base: [],
    update: backwardsTextUpdate(1, 20_000, 'codemirror'),
  })

  const paper = loadSequentialTrace('automerge-paper')
  const author = new Y.Doc()
  const text = author.getText('codemirror')
  for (const txn of paper.txns) {
    author.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del) text.delete(pos, del)
        if (ins) text.insert(pos, ins)
      }
    })
  }
  list.push({
    name: 'legitimate: automerge-paper written offline (one update)',
    base: [],
    update: Y.encodeStateAsUpdate(author),
  })

  const paste = new Y.Doc()
  paste.getText('codemirror').insert(0, 'lorem ipsum '.repeat(700_000))
  list.push({ name: 'legitimate: an 8 MB paste', base: [], update: Y.encodeStateAsUpdate(paste) })

  // A 200k-struct document, every struct deleted; then the same deletion sent again.
  const big = backwardsTextUpdate(2, 200_000, 'codemirror')
  const deleter = docOf([big])
  const beforeDelete = Y.encodeStateVector(deleter)
  deleter.getText('codemirror').delete(0, 200_000)
  const deletion = Y.encodeStateAsUpdate(deleter, beforeDelete)
  list.push({ name: 'legitimate: delete 200k live structs', base: [big], update: deletion })
  list.push({ name: 'hostile: re-delete 200k deleted structs', base: [big, deletion], update: deletion })

  // Conflict walks: items whose origin is the document's first item and right origin its last,
  // over 100k live items whose origins are their left neighbours (100k characters typed at once,
  // then every other one deleted, which splits the run into 200k structs).
  const typed = new Y.Doc()
  typed.clientID = 3
  const typedText = typed.getText('codemirror')
  typedText.insert(0, 'ab'.repeat(100_000))
  typed.transact(() => {
    for (let i = 0; i < 100_000; i++) typedText.delete(i, 1)
  })
  list.push({
    name: 'hostile: 20 items with origins 200k structs apart',
    base: [Y.encodeStateAsUpdate(typed)],
    update: handItemsUpdate(
      4,
      0,
      Array.from({ length: 20 }, () => ({
        origin: [3, 1] as [number, number],
        right: [3, 199_999] as [number, number],
      })),
    ),
  })
  list.push({
    name: 'hostile: 3,000 map sets of one key without origin',
    base: [],
    update: handItemsUpdate(
      5,
      0,
      Array.from({ length: 3_000 }, () => ({ origin: null, right: null, parent: 'map', parentSub: 'k' })),
    ),
  })
  return list
}

interface Row {
  workload: string
  bytes: number
  structs: number
  estimatedMs: number
  appliedMs: number
  /** Fastest apply of the runs. */
  appliedMinMs: number
  ratio: number
  pricingMs: number
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const gc = (globalThis as { gc?: () => void }).gc

const rows: Row[] = []
for (const workload of workloads()) {
  const estimated: number[] = []
  const applied: number[] = []
  const pricing: number[] = []
  let structs = 0
  for (let run = 0; run < runs + 1; run++) {
    const doc = docOf(workload.base)
    const deleted = new DeletedIndex(doc)
    const structsBefore = countStructs(doc)
    // Garbage from building the document is collected before, not during, the measured work.
    gc?.()
    const priceStart = performance.now()
    const shape = readUpdateShape(workload.update, { maxJsonDepth: 64 })
    const admission = admitUpdate(doc, workload.update, shape, LIMITS, deleted)
    const priceMs = performance.now() - priceStart
    const applyStart = performance.now()
    if (admission.update) Y.applyUpdate(doc, admission.update)
    const applyMs = performance.now() - applyStart
    structs = countStructs(doc) - structsBefore
    // The first run warms the JIT up; it is not counted.
    if (run > 0) {
      estimated.push(admission.work / 1e6)
      applied.push(applyMs)
      pricing.push(priceMs)
    }
    deleted.destroy()
    doc.destroy()
  }
  const row: Row = {
    workload: workload.name,
    bytes: workload.update.byteLength,
    structs,
    estimatedMs: median(estimated),
    appliedMs: median(applied),
    appliedMinMs: Math.min(...applied),
    ratio: median(estimated) / median(applied),
    pricingMs: median(pricing),
  }
  rows.push(row)
  console.error(
    `${row.workload}: estimated ${row.estimatedMs.toFixed(1)} ms, applied ${row.appliedMs.toFixed(1)} ms`,
  )
}

/**
 * Heap bytes per struct of a loaded document (what STRUCT_MEMORY in server/rooms/room-footprint.ts
 * stands for): 100,000 one-character items typed backwards, applied to a fresh document between full
 * GCs.
 */
function heapPerStruct(): number | null {
  if (!gc) return null
  const update = backwardsTextUpdate(9, 100_000, 'codemirror')
  gc()
  const before = process.memoryUsage().heapUsed
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  gc()
  const bytes = process.memoryUsage().heapUsed - before
  const structs = countStructs(doc)
  doc.destroy()
  return Math.round(bytes / structs)
}

function countStructs(doc: Y.Doc): number {
  let count = 0
  for (const list of doc.store.clients.values()) count += list.length
  return count
}

mkdirSync(values.out, { recursive: true })
writeFileSync(
  path.join(values.out, 'prices.json'),
  `${JSON.stringify({ date: new Date().toISOString(), runs, node: process.version, heapBytesPerStruct: heapPerStruct(), rows }, null, 2)}\n`,
)
console.log(
  `heap bytes per struct (100,000 one-character items): ${heapPerStruct() ?? 'run with --expose-gc'}`,
)
console.log(
  '| workload | bytes | new structs | estimated ms | applied ms (median) | applied ms (fastest) | estimate / median | pricing ms |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) {
  console.log(
    `| ${r.workload} | ${r.bytes.toLocaleString('en')} | ${r.structs.toLocaleString('en')} | ${r.estimatedMs.toFixed(1)} | ${r.appliedMs.toFixed(1)} | ${r.appliedMinMs.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.pricingMs.toFixed(2)} |`,
  )
}
