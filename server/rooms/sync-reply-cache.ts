/**
 * One encoding of a room's whole document, shared by every joiner that has nothing yet (an empty
 * state vector), so fifty people opening a 20 MB room cost one encode and one buffer, not fifty.
 *
 * The cached sync step 2 stays valid as the document changes: updates applied after it are kept as
 * their relayed frames (the "tail") and sent after it, which Yjs merges into the same state. Once
 * the tail grows past a share of the cached message it is cheaper to encode again, so the cache
 * drops itself.
 */
import { encodeSyncStep2 } from '../../shared/protocol/index.ts'

export class SyncReplyCache {
  private message: Uint8Array | null = null
  private tail: Uint8Array[] = []
  private tailBytes = 0
  /**
   * The messages that bring a client with an empty state vector up to the document's current state;
   * `encode` encodes the whole document and is called only when nothing is cached.
   */
  fullSync(encode: () => Uint8Array): Uint8Array[] {
    if (!this.message) {
      this.message = encodeSyncStep2(encode())
      this.tail = []
      this.tailBytes = 0
    }
    return [this.message, ...this.tail]
  }

  /** Records an update (as its relayed sync-update frame) applied after the cached encoding. */
  applied(frame: Uint8Array): void {
    if (!this.message) return
    // A copy: `frame` may be a view into a socket read buffer that it would keep alive.
    this.tail.push(frame.slice())
    this.tailBytes += frame.byteLength
    if (this.tail.length > 512 || this.tailBytes > this.message.byteLength / 4 + 64 * 1024) this.clear()
  }

  /** Forgets the cached encoding (memory back; the next full sync encodes again). */
  clear(): void {
    this.message = null
    this.tail = []
    this.tailBytes = 0
  }
}
