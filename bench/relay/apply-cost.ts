/**
 * `npm run bench:apply [-- --updates N] [--repeats N]`
 *
 * What keeping the document costs the relay, per update, on the relay benchmark's workload: the
 * number the choice between "apply a turn's updates in one transaction" and "validate by shape,
 * relay, materialise the document lazily" (y/hub's design) turns on. In one process, no sockets:
 * 20 rooms of 10 clients edit one shared text each (trace positions as `typing`, or uniformly
 * random ones as `typing-uniform`, ./edit-script.ts), the updates interleaved across rooms as the
 * server receives them. Then each step of a room's hot path is timed on its own, over the same
 * updates into fresh documents (time on the main thread, median of --repeats):
 *
 *   yjs apply          Y.applyUpdate, one transaction per update (what y-websocket does)
 *   yjs apply, turns   the same with 2 / 8 updates of a room per transaction (one transaction per
 *                      turn when a turn holds that many updates of the room)
 *   shape + admission  reading the update's shape and pricing it against the document (Tandem's
 *                      admission, which a lazy relay would still need, against a state vector)
 *   text deltas        the delta each update made to the text (the change feed, text edits, history)
 *
 * Compare with the relay benchmark's server CPU per update (`npm run bench:relay`), which adds
 * receiving, storing, relaying and everything else.
 */
import { parseArgs } from 'node:util'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { DeletedIndex } from '../../server/admission/deleted-index.ts'
import { admitUpdate } from '../../server/admission/update-admission.ts'
import { readUpdateShape } from '../../server/admission/update-shape.ts'
import { defaultConfig } from '../../server/config/config.ts'
import { TextDeltas } from '../../server/rooms/text-deltas.ts'
import { loadSequentialTrace } from '../../tests/helpers/traces.ts'
import {
  editScript,
  type PlacedEdit,
  type Positions,
  placeEdit,
  SHARED_TEXT,
  startingPatch,
  TRACE_NAME,
  uniformEdit,
} from './edit-script.ts'

const ROOMS = 20
const CLIENTS = 10

const { values } = parseArgs({
  options: { updates: { type: 'string', default: '6000' }, repeats: { type: 'string', default: '5' } },
})
const UPDATES = Number(values.updates)
const REPEATS = Number(values.repeats)

/** The updates the clients of every room send, in the order the server receives them. */
function workload(positions: Positions): Array<{ room: number; update: Uint8Array }> {
  const script = positions === 'trace' ? editScript(TRACE_NAME, loadSequentialTrace(TRACE_NAME)) : null
  const rooms = Array.from({ length: ROOMS }, (_, r) =>
    Array.from({ length: CLIENTS }, (_, c) => {
      const doc = new Y.Doc()
      doc.clientID = 1 + r * CLIENTS + c
      return {
        doc,
        random: prng.create(r * CLIENTS + c),
        next: script ? startingPatch(script, r * CLIENTS + c) : 0,
        cursor: null as number | null,
        replayed: 0,
      }
    }),
  )
  const out: Array<{ room: number; update: Uint8Array }> = []
  for (let i = 0; out.length < UPDATES; i++) {
    const r = i % ROOMS
    const clients = rooms[r]
    const client = clients[Math.floor(i / ROOMS) % CLIENTS]
    const text = client.doc.getText(SHARED_TEXT)
    let placed: PlacedEdit
    if (script) {
      placed = placeEdit(script, client.next, client.cursor, text.length, client.replayed === 0)
      client.next = (client.next + 1) % script.positions.length
      client.replayed++
    } else placed = uniformEdit(client.random, text.length)
    // What the transaction changed, as a client sends it (its `update` event).
    let update: Uint8Array = new Uint8Array(0)
    const take = (changes: Uint8Array) => {
      update = changes
    }
    client.doc.on('update', take)
    client.doc.transact(() => {
      if (placed.deleteCount > 0) text.delete(placed.index, placed.deleteCount)
      if (placed.insert) text.insert(placed.index, placed.insert)
    })
    client.doc.off('update', take)
    client.cursor = placed.index + placed.insert.length
    if (update.byteLength === 0) continue
    for (const other of clients) if (other !== client) Y.applyUpdate(other.doc, update)
    out.push({ room: r, update })
  }
  return out
}

/**
 * µs per update of `run` (which applies all `count` updates to `docs`, fresh room documents each
 * time): the median of REPEATS.
 */
function timed(count: number, run: (docs: Y.Doc[]) => () => void): number {
  const samples: number[] = []
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    const go = run(Array.from({ length: ROOMS }, () => new Y.Doc()))
    globalThis.gc?.()
    const start = performance.now()
    go()
    samples.push(((performance.now() - start) * 1000) / count)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]
}

/** µs per update, each applied by the step `setup` made for its room's document. */
function measure(
  updates: Array<{ room: number; update: Uint8Array }>,
  setup: (doc: Y.Doc) => (update: Uint8Array) => void,
): number {
  return timed(updates.length, (docs) => {
    const steps = docs.map(setup)
    return () => {
      for (const { room, update } of updates) steps[room](update)
    }
  })
}

/** The same, applying `per` updates of a room in one transaction (rooms' batches interleaved). */
function measureBatched(updates: Array<{ room: number; update: Uint8Array }>, per: number): number {
  const batches: Array<{ room: number; updates: Uint8Array[] }> = []
  const open = new Map<number, Uint8Array[]>()
  for (const { room, update } of updates) {
    const batch = open.get(room) ?? []
    batch.push(update)
    open.set(room, batch)
    if (batch.length === per) {
      batches.push({ room, updates: batch })
      open.delete(room)
    }
  }
  for (const [room, rest] of open) batches.push({ room, updates: rest })
  return timed(updates.length, (docs) => () => {
    for (const { room, updates: batch } of batches) {
      const doc = docs[room]
      doc.transact(() => {
        for (const update of batch) Y.applyUpdate(doc, update)
      })
    }
  })
}

const rows: string[][] = []
for (const positions of ['trace', 'uniform'] as const) {
  const updates = workload(positions)
  const apply = measure(updates, (doc) => (update) => Y.applyUpdate(doc, update))
  const turns2 = measureBatched(updates, 2)
  const turns8 = measureBatched(updates, 8)
  const admitted = measure(updates, (doc) => {
    const deleted = new DeletedIndex(doc)
    return (update) => {
      const shape = readUpdateShape(update, { maxJsonDepth: 64 })
      const admitted = admitUpdate(doc, update, shape, defaultConfig, deleted).update
      if (admitted) Y.applyUpdate(doc, admitted)
    }
  })
  const deltas = measure(updates, (doc) => {
    const text = new TextDeltas(doc, SHARED_TEXT)
    doc.on('afterTransaction', (transaction: Y.Transaction) => text.of(transaction))
    return (update) => Y.applyUpdate(doc, update)
  })
  const bytes = updates.reduce((sum, { update }) => sum + update.byteLength, 0) / updates.length
  rows.push([
    positions,
    String(updates.length),
    bytes.toFixed(0),
    apply.toFixed(1),
    turns2.toFixed(1),
    turns8.toFixed(1),
    (admitted - apply).toFixed(1),
    (deltas - apply).toFixed(1),
  ])
}
const head = [
  'positions',
  'updates',
  'bytes/update',
  'yjs apply µs',
  '2 per transaction µs',
  '8 per transaction µs',
  'shape + admission µs',
  'text deltas µs',
]
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i])).join('  ')
console.log(line(head))
for (const row of rows) console.log(line(row))
console.log(
  `\n(${ROOMS} rooms x ${CLIENTS} clients, µs per update on the main thread, medians of ${REPEATS}; admission and deltas: beyond yjs apply)`,
)
