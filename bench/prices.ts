/**
 * `npm run bench:prices`: checks the admission's work prices (server/update-admission.ts PRICES)
 * against what Yjs really spends. For each workload, hostile and legitimate, it builds the room's
 * document, prices the update as the room would (read the shape, admit it) and then applies it,
 * and reports the median over --runs of: the estimated work, the measured apply time, their ratio
 * (≥ 1 means the price is conservative), what pricing itself cost, and heap bytes per struct.
 * Flags: --runs N (default 5), --out DIR (default bench/results; writes prices.json).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { defaultConfig } from '../server/config.ts'
import { DeletedIndex } from '../server/deleted-index.ts'
import { admitUpdate } from '../server/update-admission.ts'
import { readUpdateShape } from '../server/update-shape.ts'
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

/** Text typed backwards, one character at a time: `count` items that cannot merge. */
function backwards(client: number, count: number, prefix: Y.Doc | null = null): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = client
  if (prefix) Y.applyUpdate(doc, Y.encodeStateAsUpdate(prefix))
  const before = Y.encodeStateVector(doc)
  const text = doc.getText('codemirror')
  doc.transact(() => {
    for (let i = 0; i < count; i++) text.insert(0, 'x')
  })
  return Y.encodeStateAsUpdate(doc, before)
}

function docOf(updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const update of updates) Y.applyUpdate(doc, update)
  return doc
}

/** A hand-written item: `client:clock`, one character, with the given origins. */
function itemUpdate(
  client: number,
  clock: number,
  items: Array<{ origin: [number, number] | null; right: [number, number] | null; parentSub?: string }>,
): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, items.length)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, clock)
  for (const item of items) {
    const info = 4 | (item.origin ? 128 : 0) | (item.right ? 64 : 0) | (item.parentSub !== undefined ? 32 : 0)
    encoding.writeUint8(encoder, info)
    if (item.origin) {
      encoding.writeVarUint(encoder, item.origin[0])
      encoding.writeVarUint(encoder, item.origin[1])
    }
    if (item.right) {
      encoding.writeVarUint(encoder, item.right[0])
      encoding.writeVarUint(encoder, item.right[1])
    }
    if (!item.origin && !item.right) {
      encoding.writeVarUint(encoder, 1)
      encoding.writeVarString(encoder, item.parentSub !== undefined ? 'map' : 'codemirror')
      if (item.parentSub !== undefined) encoding.writeVarString(encoder, item.parentSub)
    }
    encoding.writeVarString(encoder, 'y')
  }
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

function workloads(): Workload[] {
  const list: Workload[] = []
  list.push({ name: 'hostile: 20k items typed backwards', base: [], update: backwards(1, 20_000) })

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
  const big = backwards(2, 200_000)
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
    update: itemUpdate(
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
    update: itemUpdate(
      5,
      0,
      Array.from({ length: 3_000 }, () => ({ origin: null, right: null, parentSub: 'k' })),
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
  heapBytesPerStruct: number | null
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const gc = (globalThis as { gc?: () => void }).gc

const rows: Row[] = []
for (const workload of workloads()) {
  const estimated: number[] = []
  const applied: number[] = []
  const pricing: number[] = []
  const heap: number[] = []
  let structs = 0
  for (let run = 0; run < runs + 1; run++) {
    const doc = docOf(workload.base)
    const deleted = new DeletedIndex(doc)
    const structsBefore = countStructs(doc)
    gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    const priceStart = performance.now()
    const shape = readUpdateShape(workload.update, { maxJsonDepth: 64 })
    const admission = admitUpdate(doc, workload.update, shape, LIMITS, deleted)
    const priceMs = performance.now() - priceStart
    const applyStart = performance.now()
    if (admission.update) Y.applyUpdate(doc, admission.update)
    const applyMs = performance.now() - applyStart
    gc?.()
    structs = countStructs(doc) - structsBefore
    // The first run warms the JIT up; it is not counted.
    if (run > 0) {
      estimated.push(admission.work / 1e6)
      applied.push(applyMs)
      pricing.push(priceMs)
      if (gc && structs > 1_000) heap.push((process.memoryUsage().heapUsed - heapBefore) / structs)
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
    heapBytesPerStruct: heap.length > 0 ? Math.round(median(heap)) : null,
  }
  rows.push(row)
  console.error(
    `${row.workload}: estimated ${row.estimatedMs.toFixed(1)} ms, applied ${row.appliedMs.toFixed(1)} ms`,
  )
}

function countStructs(doc: Y.Doc): number {
  let count = 0
  for (const list of doc.store.clients.values()) count += list.length
  return count
}

mkdirSync(values.out, { recursive: true })
writeFileSync(
  path.join(values.out, 'prices.json'),
  `${JSON.stringify({ date: new Date().toISOString(), runs, node: process.version, rows }, null, 2)}\n`,
)
console.log(
  '| workload | bytes | new structs | estimated ms | applied ms (median) | applied ms (fastest) | estimate / median | pricing ms | heap B / struct |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) {
  console.log(
    `| ${r.workload} | ${r.bytes.toLocaleString('en')} | ${r.structs.toLocaleString('en')} | ${r.estimatedMs.toFixed(1)} | ${r.appliedMs.toFixed(1)} | ${r.appliedMinMs.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.pricingMs.toFixed(2)} | ${r.heapBytesPerStruct ?? '-'} |`,
  )
}
