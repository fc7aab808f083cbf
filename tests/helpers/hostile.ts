/**
 * Hostile payloads for tests/relay-hostile.test.ts and bench/hostile.ts: one exported builder per
 * attack, each returning the exact bytes (or request text) a hostile peer sends. Pure functions of
 * their arguments (and of a lib0 PRNG where random), with no test-runner imports, so the benchmark
 * can use them too.
 *
 * Yjs V1 update, as written here by hand (lib0 varUints):
 *   update     = numBlocks, block*, deleteSet
 *   block      = numStructs, client, firstClock, struct*
 *   struct     = info:uint8 then GC (info&31 = 0): len | Item: [origin ID if info&128] content
 *                (an item without origins names its parent: 1, rootTypeName)
 *   deleteSet  = numClients, (client, numRanges, (clock, len)*)*
 */
import * as encoding from 'lib0/encoding'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'

/** The largest clock (or length) a float64 holds exactly. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER

const STRUCT_GC = 0
const CONTENT_STRING = 4
const CONTENT_DOC = 9
const HAS_ORIGIN = 128

// ---- Class 1: HTTP requests whose URL or headers the server must survive ----

/** A WebSocket upgrade request (HTTP/1.1, as raw text) for `path`; `headers` replace the usual ones. */
export function upgradeRequest(path: string, headers?: Array<[string, string]>): string {
  const lines = headers ?? [
    ['Host', '127.0.0.1'],
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ]
  return `GET ${path} HTTP/1.1\r\n${lines.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`
}

/** A plain HTTP/1.1 GET (no upgrade) for `path`, as raw text. */
export function plainGetRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`
}

/** Paths that make `new URL(path, base)` throw or that probe the room-name check. */
const NASTY_PATHS = [
  '//',
  '//[',
  '///',
  '//x:99999',
  '//@',
  '%',
  '%zz',
  '/%',
  '/%zz',
  '/a%zz',
  '/%00',
  '/%C3%A9',
  '/..',
  '/.',
  '/a/../b',
  '*',
  'http://[',
  'http://',
  '/?',
  '/#',
  '/room#frag',
  '/é',
  '/😀',
  '/\u0007',
  '/a\tb',
  '/\u007f',
  '',
]

/** A random path: nasty, unicode, control characters, very long, or a plausible room, plus a query. */
function randomPath(gen: prng.PRNG): string {
  const roll = prng.uint32(gen, 0, 9)
  let path: string
  if (roll < 4) path = prng.oneOf(gen, NASTY_PATHS)
  else if (roll < 5) path = `/${prng.utf16String(gen, prng.uint32(gen, 1, 40))}`
  else if (roll < 6) path = `/${'x'.repeat(prng.oneOf(gen, [129, 4_000, 20_000, 70_000]))}`
  else if (roll < 7) path = `/${String.fromCharCode(prng.uint32(gen, 0, 31))}room`
  else path = `/${prng.word(gen, 1, 12)}`
  const query = prng.uint32(gen, 0, 5)
  if (query === 0) path += `?${prng.word(gen, 0, 8)}=${prng.utf16String(gen, 6)}`
  else if (query === 1) path += '?tandem=1&tandem=0&%zz=%&=&&'
  else if (query === 2) path += `?${'q'.repeat(prng.oneOf(gen, [10, 9_000]))}`
  return path
}

const HEADER_CHOICES: Record<string, string[]> = {
  Host: ['127.0.0.1', '', '[', 'a'.repeat(9_000), 'localhost:99999', '%zz'],
  Connection: ['Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close', '', 'Upgrade, Upgrade'],
  Upgrade: ['websocket', 'WebSocket', 'h2c', '', 'websocket, websocket'],
  'Sec-WebSocket-Version': ['13', '8', 'abc', '', '13, 13', '9999999999999999999'],
  'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ==', 'not base64!', '', 'QUJD', 'k'.repeat(10_000)],
}

/** A random request (three in four are upgrades) with random, missing, duplicated or oversized headers. */
export function randomHttpRequest(gen: prng.PRNG): string {
  const path = randomPath(gen)
  const upgrade = prng.uint32(gen, 0, 3) !== 0
  const headers: Array<[string, string]> = []
  for (const [name, values] of Object.entries(HEADER_CHOICES)) {
    if (!upgrade && name !== 'Host' && prng.bool(gen)) continue
    const copies = prng.oneOf(gen, [0, 1, 1, 1, 1, 2])
    for (let i = 0; i < copies; i++) headers.push([name, prng.oneOf(gen, values)])
  }
  if (prng.uint32(gen, 0, 9) === 0) headers.push([`X-${prng.word(gen, 1, 6)}`, 'v'.repeat(20_000)])
  if (prng.uint32(gen, 0, 19) === 0) headers.push(['Content-Length', prng.oneOf(gen, ['5', '-1', 'x'])])
  const method = upgrade ? 'GET' : prng.oneOf(gen, ['GET', 'HEAD', 'POST', 'OPTIONS', 'BREW', 'G\u0000T'])
  const head = `${method} ${path} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}`
  // One in ten is cut short (never finished), one in ten has a body.
  const end = prng.uint32(gen, 0, 9)
  if (end === 0) return head
  if (end === 1) return `${head}\r\nhello`
  return `${head}\r\n`
}

// ---- Framing ----

/** A sync-update message `[0, 2, bytes(update)]`. */
export function syncUpdateFrame(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, 2)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

/** A sync-step-1 message `[0, 0, bytes(stateVector)]` (an empty doc's vector when omitted). */
export function syncStep1Frame(stateVector: Uint8Array = new Uint8Array([0])): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint8Array(encoder, stateVector)
  return encoding.toUint8Array(encoder)
}

// ---- Class 2 and 5: awareness ----

/** One awareness entry; `json` is written as is, so it may be malformed. */
export interface AwarenessEntry {
  clientID: number
  clock: number
  json: string
}

/** An awareness message `[1, bytes(n, n × (clientID, clock, JSON))]`. */
export function awarenessFrame(entries: AwarenessEntry[]): Uint8Array {
  const inner = encoding.createEncoder()
  encoding.writeVarUint(inner, entries.length)
  for (const { clientID, clock, json } of entries) {
    encoding.writeVarUint(inner, clientID)
    encoding.writeVarUint(inner, clock)
    encoding.writeVarString(inner, json)
  }
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner))
  return encoding.toUint8Array(encoder)
}

/** The awareness id whose state (`{user: {name: 'bob'}}`) `spoofAwareness` ends with. */
export const SPOOFER_OWN_ID = 9_009_009

/**
 * Sends, through `peer`, three attempts on `victimId`'s awareness state (a new name at the next
 * clock, a removal, a name at the largest clock), then a state for the peer's own id
 * SPOOFER_OWN_ID: frames are handled in order, so whoever sees that last one has seen any relay
 * of the attempts.
 */
export async function spoofAwareness(
  peer: { send(frame: Uint8Array): Promise<void> },
  victimId: number,
  victimClock: number,
): Promise<void> {
  const spoof = JSON.stringify({ user: { name: 'mallory' } })
  await peer.send(awarenessFrame([{ clientID: victimId, clock: victimClock + 1, json: spoof }]))
  await peer.send(awarenessFrame([{ clientID: victimId, clock: victimClock + 2, json: 'null' }]))
  await peer.send(awarenessFrame([{ clientID: victimId, clock: Number.MAX_SAFE_INTEGER, json: spoof }]))
  await peer.send(awarenessFrame([{ clientID: SPOOFER_OWN_ID, clock: 1, json: '{"user":{"name":"bob"}}' }]))
}

/** JSON text of arrays nested `depth` deep: `[[[…]]]` (10,000 deep overflows JSON.stringify). */
export function nestedJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth)
}

/** A JSON object awareness state of `bytes` bytes (a user with a very long name). */
export function bigAwarenessJson(bytes: number): string {
  const frame = '{"user":{"name":""}}'
  return `{"user":{"name":"${'n'.repeat(Math.max(0, bytes - frame.length))}"}}`
}

/** A random JSON value up to `depth` deep, of every JSON kind. */
function randomJsonValue(gen: prng.PRNG, depth: number): unknown {
  const kind = depth <= 0 ? prng.uint32(gen, 0, 3) : prng.uint32(gen, 0, 5)
  switch (kind) {
    case 0:
      return null
    case 1:
      return prng.oneOf(gen, [0, -1, 1.5, 1e308, Number.MAX_SAFE_INTEGER, true, false])
    case 2:
      return prng.utf16String(gen, prng.uint32(gen, 0, 12))
    case 3:
      return prng.word(gen, 0, 8)
    case 4:
      return Array.from({ length: prng.uint32(gen, 0, 4) }, () => randomJsonValue(gen, depth - 1))
    default:
      return Object.fromEntries(
        Array.from({ length: prng.uint32(gen, 0, 4) }, () => [
          prng.word(gen, 0, 6),
          randomJsonValue(gen, depth - 1),
        ]),
      )
  }
}

/**
 * A random awareness frame from one hostile connection: random JSON values, depths (up to 20,000),
 * sizes (up to 200 KB), clocks (up to 2^53-1), client ids (some drawn from `ids`, which should hold
 * other peers' ids), `null` states, malformed JSON, and truncated frames.
 */
export function randomAwarenessFrame(gen: prng.PRNG, ids: number[]): Uint8Array {
  const entries: AwarenessEntry[] = []
  const count = prng.oneOf(gen, [1, 1, 1, 2, 3, 12])
  for (let i = 0; i < count; i++) {
    const clientID =
      ids.length > 0 && prng.uint32(gen, 0, 3) === 0 ? prng.oneOf(gen, ids) : prng.uint32(gen, 0, 2 ** 31)
    const clock = prng.oneOf(gen, [0, 1, 2, prng.uint32(gen, 0, 1000), MAX_SAFE, 2 ** 32])
    const shape = prng.uint32(gen, 0, 9)
    let json: string
    if (shape === 0) json = 'null'
    else if (shape === 1) json = nestedJson(prng.oneOf(gen, [65, 200, 5_000, 20_000]))
    else if (shape === 2) json = bigAwarenessJson(prng.oneOf(gen, [9_000, 50_000, 200_000]))
    else if (shape === 3) json = prng.oneOf(gen, ['{nope', '', '{"a":', 'undefined', '\u0000', '[1,]'])
    else json = JSON.stringify(randomJsonValue(gen, prng.uint32(gen, 0, 6))) ?? 'null'
    entries.push({ clientID, clock, json })
  }
  const frame = awarenessFrame(entries)
  if (prng.uint32(gen, 0, 9) === 0) return frame.slice(0, prng.uint32(gen, 1, frame.length - 1))
  return frame
}

// ---- Class 3: clocks past 2^53 ----

/** Writes one root-level string item (no origins; parent = root type `root`). */
function writeRootString(encoder: encoding.Encoder, root: string, text: string): void {
  encoding.writeUint8(encoder, CONTENT_STRING)
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarString(encoder, root)
  encoding.writeVarString(encoder, text)
}

/** A ~30-byte update: "hello" at `client`'s clocks 0-4 in root "text", then a GC struct of length 2^53-1 at clock 5. */
export function clockOverflowUpdate(client: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, 2)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, 0)
  writeRootString(encoder, 'text', 'hello')
  encoding.writeUint8(encoder, STRUCT_GC)
  encoding.writeVarUint(encoder, MAX_SAFE)
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

/** A ~20-byte update: two GC structs of `client` from clock 0 whose lengths (2^52 and 2^52+3) sum past 2^53. */
export function clockOverflowPairUpdate(client: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, 2)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, 0)
  encoding.writeUint8(encoder, STRUCT_GC)
  encoding.writeVarUint(encoder, 2 ** 52)
  encoding.writeUint8(encoder, STRUCT_GC)
  encoding.writeVarUint(encoder, 2 ** 52 + 3)
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

// ---- Class 4: one message that costs too much ----

/** A real Yjs update inserting `length` characters as one item by `client` into root text "text". */
export function longTextUpdate(client: number, length: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = client
  doc.getText('text').insert(0, 'a'.repeat(length))
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

/**
 * An update with no structs and a delete set of `count` one-clock ranges of `client`, in descending
 * clock order (count-1 down to 0): against one `count`-char item, each range splits it near its start
 * (quadratic in Yjs). ~4 bytes a range.
 */
export function reverseDeleteSetUpdate(client: number, count: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, count)
  for (let clock = count - 1; clock >= 0; clock--) {
    encoding.writeVarUint(encoder, clock)
    encoding.writeVarUint(encoder, 1)
  }
  return encoding.toUint8Array(encoder)
}

/**
 * An update with no structs and a delete set of `count` one-clock ranges of `client` in ascending
 * order, every other clock: the canonical order, but each range still splits an existing item
 * (each split costs microseconds however the ranges are ordered).
 */
export function ascendingDeleteSetUpdate(client: number, count: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, count)
  for (let i = 0; i < count; i++) {
    encoding.writeVarUint(encoder, 2 * i + 1)
    encoding.writeVarUint(encoder, 1)
  }
  return encoding.toUint8Array(encoder)
}

/**
 * An update of `count` subdocument items (content type 9, each with a new guid) by `client` from
 * `firstClock`, chained one after another in root array "subdocs" (~27 bytes an item).
 */
export function subdocsUpdate(client: number, count: number, firstClock = 0): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, count)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, firstClock)
  for (let i = 0; i < count; i++) {
    const clock = firstClock + i
    if (i === 0) {
      encoding.writeUint8(encoder, CONTENT_DOC)
      encoding.writeVarUint(encoder, 1)
      encoding.writeVarString(encoder, 'subdocs')
    } else {
      encoding.writeUint8(encoder, HAS_ORIGIN | CONTENT_DOC)
      encoding.writeVarUint(encoder, client)
      encoding.writeVarUint(encoder, clock - 1)
    }
    encoding.writeVarString(encoder, `${client.toString(36)}.${clock.toString(36)}`)
    encoding.writeAny(encoder, {})
  }
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

/**
 * An update of `count` one-character string items in root text "text", each under its own new
 * client id (`firstClient` … `firstClient + count - 1`), chained so each follows the previous
 * (~12 bytes a client). Yjs integrates the highest client first, so the chain runs from the highest
 * id down and needs no pending-struct stack.
 */
export function manyClientsUpdate(firstClient: number, count: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, count)
  for (let k = 0; k < count; k++) {
    const client = firstClient + count - 1 - k
    encoding.writeVarUint(encoder, 1)
    encoding.writeVarUint(encoder, client)
    encoding.writeVarUint(encoder, 0)
    if (k === 0) {
      writeRootString(encoder, 'text', 'x')
    } else {
      encoding.writeUint8(encoder, HAS_ORIGIN | CONTENT_STRING)
      encoding.writeVarUint(encoder, client + 1)
      encoding.writeVarUint(encoder, 0)
      encoding.writeVarString(encoder, 'x')
    }
  }
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

// ---- Round 2: updates whose work is out of proportion to their bytes ----

/**
 * `count` one-character items by `client` typed backwards into root text `name` (each one before
 * the last), after `base` (updates the item builds on, e.g. earlier calls): items that cannot merge,
 * ~6 bytes each. Returns only what is new.
 */
export function backwardsTextUpdate(
  client: number,
  count: number,
  name = 'text',
  base: Uint8Array[] = [],
): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = client
  for (const update of base) Y.applyUpdate(doc, update)
  const before = Y.encodeStateVector(doc)
  const text = doc.getText(name)
  doc.transact(() => {
    for (let i = 0; i < count; i++) text.insert(0, 'x')
  })
  const update = Y.encodeStateAsUpdate(doc, before)
  doc.destroy()
  return update
}

/**
 * A real text of `count` live characters in root text `name` by `client`, in `2 * count` structs
 * whose origins are their left neighbours: `count` pairs typed at once, then every other character
 * deleted (each deletion splits the run). Returned as updates of at most `perUpdate` characters' work.
 */
export function splitTextUpdates(
  client: number,
  count: number,
  perUpdate: number,
  name = 'text',
): Uint8Array[] {
  const doc = new Y.Doc()
  doc.clientID = client
  const text = doc.getText(name)
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  for (let done = 0; done < count; done += perUpdate) {
    text.insert(text.length, 'ab'.repeat(Math.min(perUpdate, count - done)))
  }
  // Delete every other character, a slice at a time (left to right, positions shift by one each).
  for (let done = 0; done < count; done += perUpdate) {
    const n = Math.min(perUpdate, count - done)
    doc.transact(() => {
      for (let i = done; i < done + n; i++) text.delete(i, 1)
    })
  }
  doc.destroy()
  return updates
}

/** One hand-written item: `[client, clock]` origins (null: none) and, without origins, a parent. */
export interface HandItem {
  origin: [number, number] | null
  right: [number, number] | null
  /** Map key (the item goes into root map `parent`), else a list item of root `parent`. */
  parentSub?: string
  parent?: string
}

/** An update of one-character items by `client` from `clock` on, exactly as given (no checks). */
export function handItemsUpdate(client: number, clock: number, items: HandItem[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, items.length)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, clock)
  for (const item of items) {
    const info =
      CONTENT_STRING |
      (item.origin ? HAS_ORIGIN : 0) |
      (item.right ? 64 : 0) |
      (!item.origin && !item.right && item.parentSub !== undefined ? 32 : 0)
    encoding.writeUint8(encoder, info)
    for (const id of [item.origin, item.right]) {
      if (!id) continue
      encoding.writeVarUint(encoder, id[0])
      encoding.writeVarUint(encoder, id[1])
    }
    if (!item.origin && !item.right) {
      encoding.writeVarUint(encoder, 1)
      encoding.writeVarString(encoder, item.parent ?? 'text')
      if (item.parentSub !== undefined) encoding.writeVarString(encoder, item.parentSub)
    }
    encoding.writeVarString(encoder, 'y')
  }
  encoding.writeVarUint(encoder, 0)
  return encoding.toUint8Array(encoder)
}

/** An update with no structs that deletes clocks [clock, clock + len) of `client`. */
export function deleteRangeUpdate(client: number, clock: number, len: number): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, client)
  encoding.writeVarUint(encoder, 1)
  encoding.writeVarUint(encoder, clock)
  encoding.writeVarUint(encoder, len)
  return encoding.toUint8Array(encoder)
}
