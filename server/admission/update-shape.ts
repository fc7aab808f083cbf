/**
 * Reads the shape of a Yjs update (encoding V1) without applying it: which client ranges it adds,
 * which ids its items refer to, its delete set, and counts of the costly parts (subdocuments, root
 * types). Everything is bounded while reading, before Yjs sees a byte:
 *
 * - every count fits the bytes that are left (no `new Array(2^40)`), every read stays in the frame;
 * - clocks and lengths stay below `MAX_CLOCK`, and no struct is empty, so the document's state
 *   vector always encodes and decodes (lib0 refuses integers past 2^53; Yjs' V2 encoding doubles
 *   clock differences);
 * - each client appears once among the structs and once in the delete set, and a client's delete
 *   ranges ascend without overlapping (what every Yjs encoder writes); out-of-order ranges make Yjs'
 *   delete pass quadratic;
 * - JSON and lib0 `any` values (item contents, subdocument options) nest at most `maxJsonDepth`,
 *   so nothing later overflows the stack when the document is encoded or serialized.
 *
 * The layout, as Yjs' `readClientsStructRefs` / `readDeleteSet` read it (all integers varUint):
 *
 *   update    = n × block, deleteSet
 *   block     = numStructs client clock struct*
 *   struct    = info:uint8 ( GC len | Skip len | item )        info & 31: 0 GC, 10 Skip, else item
 *   item      = [origin ID if info&128] [rightOrigin ID if info&64]
 *               [if neither: parentInfo (1 → rootName:string | 0 → parent ID) [parentSub:string if info&32]]
 *               content(info & 31)
 *   content   = 1 len | 2 n × jsonString | 3 bytes | 4 string | 5 jsonString | 6 key jsonString
 *             | 7 typeRef(0-6) [key if typeRef 3 or 5] | 8 n × any | 9 guid any
 *   deleteSet = n × (client numRanges (clock len)*)
 */
import * as decoding from 'lib0/decoding'

/** Largest clock (or clock + length) an update may reach: far beyond any real document. */
export const MAX_CLOCK = 2 ** 48

/** A contiguous run of structs one client created: clocks [clock, end). */
export interface StructBlock {
  client: number
  clock: number
  end: number
  /** Clock at which each struct starts, ascending. */
  starts: number[]
  /**
   * Byte offset in the update of each struct (its info byte), and one more entry: where the
   * block's last struct ends. V1 structs carry absolute ids, so a run of them copied with a new
   * block header is an update of its own (see update-slices.ts).
   */
  offsets: Uint32Array
  /** Per struct, the index (in triples) of its first entry in `references`; one more entry at the end. */
  firstReference: Uint32Array
}

export interface UpdateShape {
  blocks: StructBlock[]
  /**
   * Ids the items point at, flattened as (client, clock, kind): kind 0 = origin (Yjs splits after
   * it), 1 = right origin (splits before it), 2 = parent item (no split). A typed array: a
   * snapshot holds tens of thousands, and pushing them onto a plain array cost 4x as much.
   */
  references: Float64Array
  /** Delete ranges per client, flattened as (clock, len), ascending. */
  deletes: Map<number, number[]>
  /** Total delete ranges. */
  deleteRanges: number
  /** Items that create a subdocument. */
  subdocs: number
  /** Root type names items are placed in directly. */
  rootTypes: Set<string>
  /** Structs in all blocks. */
  structCount: number
  /**
   * Items placed without an origin or right origin (the first insert into a type, or a map entry
   * set without a predecessor): Yjs' conflict resolution walks their parent's list (or the key's
   * whole history) to place them.
   */
  anchorless: AnchorlessItem[]
  /** Byte offset where the delete set starts (everything before it is the struct section). */
  deleteSetOffset: number
}

/** An item with neither origin: where Yjs will look for its place. */
export interface AnchorlessItem {
  /** Root type name, or null when the parent is the item `parentClient:parentClock`. */
  root: string | null
  parentClient: number
  parentClock: number
  /** Map key, or null for a list (array, text) item. */
  parentSub: string | null
}

/** Why an update was refused while reading: `limit` for a bound, `malformed` for bad structure. */
export class UpdateShapeError extends Error {
  override readonly name = 'UpdateShapeError'
  constructor(
    readonly kind: 'malformed' | 'limit',
    message: string,
    /** For a limit: which one (`structs`: `maxStructs`). */
    readonly bound?: 'structs',
  ) {
    super(message)
  }
}

export interface UpdateShapeLimits {
  maxJsonDepth: number
  /** Struct blocks (distinct clients) allowed; checked from the count, before reading them. */
  maxBlocks?: number
  /** Subdocuments allowed; reading stops at the first one past it. */
  maxUpdateSubdocs?: number
  /**
   * Structs allowed in the whole update; checked from each block's count before reading it, so a
   * frame of millions of tiny items is refused after reading a few bytes, not after decoding them.
   */
  maxStructs?: number
}

const malformed = (message: string) => new UpdateShapeError('malformed', message)

/** An update with no structs and an empty delete set (`[0, 0]` in Yjs' V1 encoding). */
export function isEmptyUpdate(update: Uint8Array): boolean {
  return update.length === 2 && update[0] === 0 && update[1] === 0
}

/** Reads and bounds `update`; throws UpdateShapeError when it is malformed or past a limit. */
export function readUpdateShape(update: Uint8Array, limits: UpdateShapeLimits): UpdateShape {
  const decoder = decoding.createDecoder(update)
  const shape: UpdateShape = {
    blocks: [],
    references: EMPTY_REFERENCES,
    deletes: new Map(),
    deleteRanges: 0,
    subdocs: 0,
    rootTypes: new Set(),
    structCount: 0,
    deleteSetOffset: 0,
    anchorless: [],
  }
  const references = new ReferenceList()
  try {
    readStructs(decoder, shape, references, limits)
    shape.references = references.done()
    shape.deleteSetOffset = decoder.pos
    readDeletes(decoder, shape)
  } catch (err) {
    if (err instanceof UpdateShapeError) throw err
    throw malformed(err instanceof Error ? err.message : String(err))
  }
  if (decoder.pos !== update.length) throw malformed(`${update.length - decoder.pos} trailing bytes`)
  return shape
}

const left = (decoder: decoding.Decoder) => decoder.arr.length - decoder.pos

const EMPTY_REFERENCES = new Float64Array(0)

/** A growable list of numbers in a Float64Array (client ids pass 2^31, so not an Int32Array). */
class ReferenceList {
  private data = new Float64Array(48)
  private length = 0

  add(client: number, clock: number, kind: number): void {
    if (this.length + 3 > this.data.length) {
      const grown = new Float64Array(this.data.length * 2)
      grown.set(this.data)
      this.data = grown
    }
    this.data[this.length++] = client
    this.data[this.length++] = clock
    this.data[this.length++] = kind
  }

  /** References added so far (triples). */
  get count(): number {
    return this.length / 3
  }

  done(): Float64Array {
    return this.data.subarray(0, this.length)
  }
}

/** A count that must fit the remaining bytes, `perItem` bytes at least per item. */
function readCount(decoder: decoding.Decoder, what: string, perItem = 1): number {
  const count = decoding.readVarUint(decoder)
  if (count * perItem > left(decoder)) throw malformed(`${what} count ${count} exceeds the bytes present`)
  return count
}

function readByte(decoder: decoding.Decoder): number {
  if (decoder.pos >= decoder.arr.length) throw malformed('unexpected end of update')
  return decoder.arr[decoder.pos++]
}

function readClock(decoder: decoding.Decoder, what: string): number {
  const clock = decoding.readVarUint(decoder)
  if (clock > MAX_CLOCK) throw malformed(`${what} ${clock} is past the largest clock`)
  return clock
}

function readStructs(
  decoder: decoding.Decoder,
  shape: UpdateShape,
  references: ReferenceList,
  limits: UpdateShapeLimits,
): void {
  const blocks = readCount(decoder, 'client block', 3)
  if (blocks > (limits.maxBlocks ?? Number.POSITIVE_INFINITY)) {
    throw new UpdateShapeError(
      'limit',
      `update carries structs of ${blocks} clients (limit ${limits.maxBlocks})`,
    )
  }
  const seen = new Set<number>()
  const maxStructs = limits.maxStructs ?? Number.POSITIVE_INFINITY
  let totalStructs = 0
  for (let b = 0; b < blocks; b++) {
    const structs = readCount(decoder, 'struct', 2)
    totalStructs += structs
    if (totalStructs > maxStructs) {
      throw new UpdateShapeError(
        'limit',
        `update carries more than ${maxStructs} structs (${totalStructs} so far)`,
        'structs',
      )
    }
    const client = decoding.readVarUint(decoder)
    if (seen.has(client)) throw malformed(`client ${client} appears in two struct blocks`)
    seen.add(client)
    const start = readClock(decoder, 'clock')
    const starts: number[] = new Array(structs)
    const offsets = new Uint32Array(structs + 1)
    const firstReference = new Uint32Array(structs + 1)
    let clock = start
    for (let i = 0; i < structs; i++) {
      starts[i] = clock
      offsets[i] = decoder.pos
      firstReference[i] = references.count
      const info = readByte(decoder)
      const contentRef = info & 31
      let length: number
      if (contentRef === 0 || contentRef === 10) {
        length = decoding.readVarUint(decoder)
      } else {
        length = readItem(decoder, info, contentRef, shape, references, limits)
      }
      if (length < 1) throw malformed(`empty struct at ${client}:${clock}`)
      clock += length
      if (clock > MAX_CLOCK) throw malformed(`struct lengths push client ${client} past the largest clock`)
    }
    offsets[structs] = decoder.pos
    firstReference[structs] = references.count
    shape.blocks.push({ client, clock: start, end: clock, starts, offsets, firstReference })
    shape.structCount += structs
  }
}

function readId(decoder: decoding.Decoder, references: ReferenceList, kind: number): void {
  const client = decoding.readVarUint(decoder)
  const clock = readClock(decoder, 'referenced clock')
  references.add(client, clock, kind)
}

/** Reads one item after its info byte; returns its length (what it adds to its client's clock). */
function readItem(
  decoder: decoding.Decoder,
  info: number,
  contentRef: number,
  shape: UpdateShape,
  references: ReferenceList,
  limits: UpdateShapeLimits,
): number {
  if (info & 128) readId(decoder, references, 0)
  if (info & 64) readId(decoder, references, 1)
  if ((info & (128 | 64)) === 0) {
    const item: AnchorlessItem = { root: null, parentClient: 0, parentClock: 0, parentSub: null }
    if (decoding.readVarUint(decoder) === 1) {
      item.root = decoding.readVarString(decoder)
      shape.rootTypes.add(item.root)
    } else {
      item.parentClient = decoding.readVarUint(decoder)
      item.parentClock = readClock(decoder, 'referenced clock')
      references.add(item.parentClient, item.parentClock, 2)
    }
    if (info & 32) item.parentSub = decoding.readVarString(decoder)
    shape.anchorless.push(item)
  }
  switch (contentRef) {
    case 1: // deleted
      return decoding.readVarUint(decoder)
    case 2: {
      // JSON: n strings, each JSON or "undefined"
      const count = readCount(decoder, 'JSON value')
      for (let i = 0; i < count; i++) {
        const json = decoding.readVarString(decoder)
        if (json !== 'undefined') checkJson(json, limits.maxJsonDepth)
      }
      return count
    }
    case 3: // binary
      decoding.readVarUint8Array(decoder)
      return 1
    case 4: // string: its length in UTF-16 code units, as Yjs counts it
      return readStringLength(decoder)
    case 5: // embed
      checkJson(decoding.readVarString(decoder), limits.maxJsonDepth)
      return 1
    case 6: // format: key, JSON value
      decoding.readVarString(decoder)
      checkJson(decoding.readVarString(decoder), limits.maxJsonDepth)
      return 1
    case 7: {
      const typeRef = decoding.readVarUint(decoder)
      if (typeRef > 6) throw malformed(`unknown type ref ${typeRef}`)
      if (typeRef === 3 || typeRef === 5) decoding.readVarString(decoder)
      return 1
    }
    case 8: {
      const count = readCount(decoder, 'any value')
      for (let i = 0; i < count; i++) skipAny(decoder, limits.maxJsonDepth)
      return count
    }
    case 9: // subdocument: guid, options
      decoding.readVarString(decoder)
      skipAny(decoder, limits.maxJsonDepth)
      if (++shape.subdocs > (limits.maxUpdateSubdocs ?? Number.POSITIVE_INFINITY)) {
        throw new UpdateShapeError(
          'limit',
          `update creates more than ${limits.maxUpdateSubdocs} subdocuments`,
        )
      }
      return 1
    default:
      throw malformed(`unknown content ref ${contentRef}`)
  }
}

function readDeletes(decoder: decoding.Decoder, shape: UpdateShape): void {
  const clients = readCount(decoder, 'delete-set client', 2)
  for (let c = 0; c < clients; c++) {
    const client = decoding.readVarUint(decoder)
    if (shape.deletes.has(client)) throw malformed(`client ${client} appears twice in the delete set`)
    const count = readCount(decoder, 'delete range', 2)
    const ranges: number[] = new Array(count * 2)
    let previousEnd = 0
    for (let i = 0; i < count; i++) {
      const clock = readClock(decoder, 'delete clock')
      const len = decoding.readVarUint(decoder)
      if (clock < previousEnd) throw malformed(`delete ranges of client ${client} are not ascending`)
      previousEnd = clock + len
      if (previousEnd > MAX_CLOCK)
        throw malformed(`a delete range of client ${client} is past the largest clock`)
      ranges[2 * i] = clock
      ranges[2 * i + 1] = len
    }
    shape.deletes.set(client, ranges)
    shape.deleteRanges += count
  }
}

/**
 * Checks that `json` nests at most `maxDepth` arrays/objects (a linear scan; JSON.parse, which Yjs
 * runs next, rejects what is not JSON). Past the limit it throws a `limit` error.
 */
export function checkJson(json: string, maxDepth: number): void {
  let depth = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > maxDepth) throw new UpdateShapeError('limit', `JSON nested deeper than ${maxDepth}`)
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--
  }
}

/**
 * Skips one lib0 `any` value, refusing nesting deeper than `maxDepth` (so the recursion is bounded
 * by it; lib0's own reader recurses without a bound).
 */
function skipAny(decoder: decoding.Decoder, maxDepth: number, depth = 1): void {
  const tag = readByte(decoder)
  switch (tag) {
    case 127: // undefined
    case 126: // null
    case 121: // false
    case 120: // true
      return
    case 125: // integer
      decoding.readVarInt(decoder)
      return
    case 124: // float32
      skipBytes(decoder, 4)
      return
    case 123: // float64
    case 122: // bigint64
      skipBytes(decoder, 8)
      return
    case 119: // string
      decoding.readVarString(decoder)
      return
    case 116: // Uint8Array
      decoding.readVarUint8Array(decoder)
      return
    case 118: // object: n × (key, value)
    case 117: {
      // array: n × value
      if (depth >= maxDepth) throw new UpdateShapeError('limit', `value nested deeper than ${maxDepth}`)
      const count = readCount(decoder, 'nested value')
      for (let i = 0; i < count; i++) {
        if (tag === 118) decoding.readVarString(decoder)
        skipAny(decoder, maxDepth, depth + 1)
      }
      return
    }
    default:
      throw malformed(`unknown value tag ${tag}`)
  }
}

/**
 * Reads a varString and returns its length in UTF-16 code units without building the string when
 * it is ASCII (typed text mostly is: one unit per byte); otherwise decodes it as Yjs will.
 */
function readStringLength(decoder: decoding.Decoder): number {
  const start = decoder.pos
  const bytes = decoding.readVarUint(decoder)
  const end = decoder.pos + bytes
  if (end > decoder.arr.length) throw malformed('string runs past the end of the update')
  const arr = decoder.arr
  for (let i = decoder.pos; i < end; i++) {
    if (arr[i] >= 0x80) {
      decoder.pos = start
      return decoding.readVarString(decoder).length
    }
  }
  decoder.pos = end
  return bytes
}

function skipBytes(decoder: decoding.Decoder, n: number): void {
  if (left(decoder) < n) throw malformed('unexpected end of update')
  decoder.pos += n
}
