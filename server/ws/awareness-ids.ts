/**
 * The awareness client ids one connection introduced (`RoomMember.awarenessIds`), kept small: a
 * stock client introduces one, which this holds in a field, where a Set would cost each idle
 * connection about 150 bytes; a second id moves them all into a Set.
 */
import type { AwarenessIds } from '../rooms/room-member.ts'

/** No id held (awareness client ids are unsigned 32-bit integers). */
const NONE = -1

export class AwarenessIdSet implements AwarenessIds {
  private one = NONE
  private many: Set<number> | null = null

  get size(): number {
    if (this.many) return this.many.size
    return this.one === NONE ? 0 : 1
  }

  has(id: number): boolean {
    return this.many ? this.many.has(id) : id !== NONE && this.one === id
  }

  add(id: number): this {
    if (this.many) this.many.add(id)
    else if (this.one === NONE || this.one === id) this.one = id
    else {
      this.many = new Set([this.one, id])
      this.one = NONE
    }
    return this
  }

  delete(id: number): boolean {
    if (this.many) return this.many.delete(id)
    if (id === NONE || this.one !== id) return false
    this.one = NONE
    return true
  }

  clear(): void {
    this.one = NONE
    this.many = null
  }

  [Symbol.iterator](): IterableIterator<number> {
    if (this.many) return this.many.values()
    return (this.one === NONE ? [] : [this.one]).values()
  }
}
