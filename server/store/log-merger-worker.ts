/**
 * The log merger's thread (see `log-merger.ts` for the protocol): merges a room's stored parts with
 * `merge-log.ts`, off the relay's event loop. It holds no state between requests.
 */
import { parentPort, threadId } from 'node:worker_threads'
import { mergeStoredRoom, withMissingParts } from './merge-log.ts'

type Request =
  | { id: number; op: 'merge'; packed: ArrayBuffer; lengths: number[]; hasSnapshot: boolean }
  | { id: number; op: 'withMissing'; packed: ArrayBuffer; lengths: number[]; snapshot: Uint8Array }

const port = parentPort!

/** The parts packed one after another in `packed`, as views (no copy). */
function unpack(packed: ArrayBuffer, lengths: number[]): Uint8Array[] {
  const parts: Uint8Array[] = []
  let offset = 0
  for (const length of lengths) {
    parts.push(new Uint8Array(packed, offset, length))
    offset += length
  }
  return parts
}

port.on('message', (request: Request) => {
  try {
    const parts = unpack(request.packed, request.lengths)
    const merged =
      request.op === 'merge'
        ? mergeStoredRoom(
            request.hasSnapshot
              ? { snapshot: parts[0], updates: parts.slice(1), logBytes: 0 }
              : { snapshot: null, updates: parts, logBytes: 0 },
          )
        : withMissingParts(request.snapshot, parts)
    // Sent back by transfer when it owns its buffer, else copied once into one that does.
    const own =
      merged.byteOffset === 0 && merged.byteLength === merged.buffer.byteLength ? merged : merged.slice()
    port.postMessage({ id: request.id, result: own, threadId }, [own.buffer as ArrayBuffer])
  } catch (err) {
    port.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) })
  }
})
