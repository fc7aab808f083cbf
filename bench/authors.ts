/**
 * `npm run bench:authors`: what `GET /api/rooms/<room>/authors` costs on a 1 MB document
 * (server/authorship/author-spans.ts, server/http/authors-api.ts). The document is the
 * automerge-paper trace (259,778 edits, 104,852 characters) replayed --copies times (default 10:
 * 1.05 MB) one after another at the end of the text, by --writers writers (default 4) taking turns
 * every --turn transactions (default 100), each under a client id of its own per copy (a session),
 * bound to its identity as the room binds them. Reports the document's size, items and spans, then the median and maximum
 * over --runs runs (default 20) of the spans walk alone and of the whole answer (spans, per-author
 * counts, JSON.stringify of the body the API sends). Target: under 100 ms. Results in
 * bench/results/authors.json.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import * as Y from 'yjs'
import { authorSpans } from '../server/authorship/author-spans.ts'
import { roomAuthorship } from '../server/http/authors-api.ts'
import { ROOM_TEXT } from '../server/rooms/change-log.ts'
import { loadSequentialTrace, repoRoot } from '../tests/helpers/traces.ts'

const { values } = parseArgs({
  options: {
    copies: { type: 'string', default: '10' },
    writers: { type: 'string', default: '4' },
    turn: { type: 'string', default: '100' },
    runs: { type: 'string', default: '20' },
  },
})
const COPIES = Number(values.copies)
const WRITERS = Number(values.writers)
const TURN = Number(values.turn)
const RUNS = Number(values.runs)

/** The document, and each client id's identity key. */
function build(): { doc: Y.Doc; clients: Map<number, string> } {
  const trace = loadSequentialTrace('automerge-paper')
  const doc = new Y.Doc()
  const text = doc.getText(ROOM_TEXT)
  const clients = new Map<number, string>()
  let turns = 0
  for (let copy = 0; copy < COPIES; copy++) {
    const base = text.length
    for (let i = 0; i < trace.txns.length; i++) {
      if (i % TURN === 0) {
        // A writer's turn, under their client id of this copy (a session: a reload is a new Y.Doc).
        const writer = turns++ % WRITERS
        doc.clientID = 1_000 + copy * WRITERS + writer
        clients.set(doc.clientID, `user:writer-${writer}`)
      }
      doc.transact(() => {
        for (const [at, deleted, inserted] of trace.txns[i].patches) {
          if (deleted > 0) text.delete(base + at, deleted)
          if (inserted) text.insert(base + at, inserted)
        }
      })
    }
  }
  return { doc, clients }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const built = performance.now()
const { doc, clients } = build()
const text = doc.getText(ROOM_TEXT)
let items = 0
for (let item = text._start; item !== null; item = item.right) items++
const room = {
  doc,
  changes: { latestId: 0 },
  authors: {
    keyOf: (client: number) => clients.get(client),
    identity: () => undefined,
    refresh: async () => {},
  },
}
const keyOf = (client: number) => clients.get(client)
const spansMs: number[] = []
const answerMs: number[] = []
let body = ''
let spans = 0
for (let run = 0; run < RUNS; run++) {
  let started = performance.now()
  spans = authorSpans(text, keyOf).spans.length
  spansMs.push(performance.now() - started)
  started = performance.now()
  body = JSON.stringify(await roomAuthorship(room))
  answerMs.push(performance.now() - started)
}
const result = {
  document: {
    units: text.length,
    utf8Bytes: Buffer.byteLength(text.toString()),
    items,
    clientIds: clients.size,
    writers: WRITERS,
    spans,
    answerBytes: Buffer.byteLength(body),
    buildMs: Math.round(performance.now() - built),
  },
  runs: RUNS,
  spansMs: { median: round(median(spansMs)), max: round(Math.max(...spansMs)) },
  answerMs: { median: round(median(answerMs)), max: round(Math.max(...answerMs)) },
  targetMs: 100,
  node: process.version,
}
console.log(JSON.stringify(result, null, 2))
writeFileSync(path.join(repoRoot, 'bench/results/authors.json'), `${JSON.stringify(result, null, 2)}\n`)

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
