/**
 * Tandem's `saved` extension (PROTOCOL.md, guarantee 2): a member that opted in (`?tandem=1`) is
 * told which document states are durable, as state-vector entries (client → clock). On joining it
 * hears the room's whole state vector; after each commit that included its updates, only the
 * entries those updates changed. Each entry is captured when everything it covers is queued for
 * commit and sent after that commit; requests made before the commit are merged into one message.
 */
import * as Y from 'yjs'
import { encodeSaved } from '../../shared/protocol/index.ts'
import type { UpdateShape } from '../admission/update-shape.ts'
import type { CommitQueue } from './commit-queue.ts'
import type { RoomMember } from './room-member.ts'

export class SavedAcks {
  /** Per member: the latest request's sequence and the state-vector entries it waits to hear about. */
  private readonly acks = new WeakMap<RoomMember, { seq: number; entries: Map<number, number> }>()

  /**
   * @param members The room's members, read live (no ack is sent to one that has left).
   */
  constructor(
    private readonly doc: Y.Doc,
    private readonly commits: CommitQueue,
    private readonly members: ReadonlySet<RoomMember>,
  ) {}

  /** Acknowledges, once durable, the document's whole state as it is now (on join). */
  queueAll(member: RoomMember): void {
    this.queue(member, Y.decodeStateVector(Y.encodeStateVector(this.doc)))
  }

  /** Acknowledges, once durable, the document's state for the clients whose structs `shape` carries. */
  queueFor(member: RoomMember, shape: UpdateShape): void {
    const states = new Map<number, number>()
    for (const { client } of shape.blocks) states.set(client, Y.getState(this.doc.store, client))
    this.queue(member, states)
  }

  /**
   * Sends `member` a `saved` message with `entries` (client → clock, captured now: everything in
   * them is queued before this follow-up, so it is durable when it runs).
   */
  private queue(member: RoomMember, entries: Map<number, number>): void {
    let ack = this.acks.get(member)
    if (!ack) {
      ack = { seq: 0, entries: new Map() }
      this.acks.set(member, ack)
    }
    const seq = ++ack.seq
    for (const [client, clock] of entries) ack.entries.set(client, clock)
    const pending = ack
    this.commits.afterCommit(() => {
      if (pending.seq !== seq || !this.members.has(member)) return
      const sv = pending.entries
      pending.entries = new Map()
      member.send(encodeSaved(Y.encodeStateVector(sv)))
    })
  }
}
