/**
 * A room's awareness (presence: cursors, names) and who owns which awareness client id, kept apart
 * from the document as y-protocols keeps awareness.js apart from sync.js.
 *
 * Ownership: a connection may only touch the awareness client ids it introduced (at most
 * `maxAwarenessClientsPerConnection`). Entries for ids another connection owns are dropped silently
 * (stock y-websocket providers echo everyone's states back), the rest are applied and relayed to
 * every member, the sender included. When a connection leaves, its states are removed for everyone.
 *
 * With other instances (fanout/): what a connection here changes is published to them, and what
 * they publish is applied here and relayed, except for ids a connection here owns. An id whose
 * state another instance publishes may not be claimed here while that state lives (until it is
 * removed there or times out), as an id another connection here owns may not.
 */
import type { Logger } from 'pino'
import * as awarenessProtocol from 'y-protocols/awareness'
import type * as Y from 'yjs'
import { CloseCode, encodeAwareness, isPresenceName } from '../../shared/protocol/index.ts'
import {
  type AwarenessEntry,
  encodeAwarenessEntries,
  readAwarenessEntries,
} from '../admission/awareness-shape.ts'
import { PeerError } from '../admission/peer-error.ts'
import type { ServerConfig } from '../config/config.ts'
import { BusKind } from '../fanout/bus-message.ts'
import type { RoomPublisher } from '../fanout/room-bus.ts'
import { peerErrorFor } from './room-admission.ts'
import type { RoomMember } from './room-member.ts'

/** The slice of the server's config awareness applies (each documented in config.ts). */
export type AwarenessConfig = Pick<
  ServerConfig,
  'maxAwarenessStateBytes' | 'maxJsonDepth' | 'maxAwarenessClientsPerConnection'
>

export interface RoomAwarenessOptions {
  /** The room's name (on the bus, in log lines). */
  name: string
  /** The room's document (awareness states are kept per document, as in y-protocols). */
  doc: Y.Doc
  /** The room's members, read live: whom changes are relayed to. */
  members: ReadonlySet<RoomMember>
  config: AwarenessConfig
  log: Logger
  /** The bus to the room's other instances; null without one. */
  bus: RoomPublisher | null
}

/** Origin of awareness changes another instance published. */
const REMOTE = Symbol('remote awareness')

export class RoomAwareness {
  /** Every awareness state in the room (y-protocols' Awareness; the server has none of its own). */
  readonly states: awarenessProtocol.Awareness
  /** Which member introduced each awareness client id on this instance. */
  private readonly owners = new Map<number, RoomMember>()
  /**
   * Awareness ids whose state another instance publishes (one of its connections owns them), with
   * when it last did: a connection here may not claim one while that state lives, as it may not
   * claim one another connection here owns. Forgotten on the state's removal or timeout.
   */
  private readonly remote = new Map<number, number>()

  constructor(private readonly options: RoomAwarenessOptions) {
    this.states = new awarenessProtocol.Awareness(options.doc)
    this.states.setLocalState(null)
    this.states.on('update', this.onChange)
  }

  /** How many awareness states the room holds. */
  get size(): number {
    return this.states.getStates().size
  }

  /**
   * The presence name of `member`: `user.name` of an awareness state it owns, else null (admission
   * already refuses a state whose name is not a presence name).
   * What its changes are credited to.
   */
  nameOf(member: RoomMember): string | null {
    if (member.awarenessIds.size === 0) return null
    const states = this.states.getStates()
    for (const id of member.awarenessIds) {
      const name = states.get(id)?.user?.name
      if (isPresenceName(name)) return name
    }
    return null
  }

  /** An awareness message with every state in the room. */
  encodeAll(): Uint8Array {
    return this.encode([...this.states.getStates().keys()])
  }

  /**
   * Applies an awareness update from `member` and relays it to every member, the sender included:
   * as with y-websocket's server, the echo of its periodic (15 s) awareness renewal is what keeps a
   * client alone in a room from hitting the provider's 30 s silence reconnect. Entries for client
   * ids another member introduced are dropped. Throws PeerError: 4422 for a malformed update, 4413
   * past a bound.
   */
  apply(member: RoomMember, update: Uint8Array, frame: Uint8Array): void {
    let entries: AwarenessEntry[]
    try {
      entries = readAwarenessEntries(update, this.options.config)
    } catch (err) {
      throw peerErrorFor(err, 'awareness update')
    }
    const allowed = entries.filter((entry) => this.mayTouch(member, entry))
    if (allowed.length === 0) return
    const own = allowed.length === entries.length ? update : encodeAwarenessEntries(allowed)
    awarenessProtocol.applyAwarenessUpdate(this.states, own, member)
    const message = own === update ? frame : encodeAwareness(own)
    for (const other of this.options.members) other.send(message)
    this.options.bus?.publish(this.options.name, BusKind.awareness, own)
  }

  /**
   * Applies an awareness update another instance published and relays it to the members. Ids a
   * connection here owns are its own to change; the others are now another instance's (see
   * mayTouch). A malformed update is dropped and logged.
   */
  applyRemote(payload: Uint8Array): void {
    try {
      const all = readAwarenessEntries(payload, this.options.config)
      const entries = all.filter((entry) => !this.owners.has(entry.clientID))
      if (entries.length === 0) return
      const now = Date.now()
      for (const entry of entries) {
        if (entry.json === 'null') this.remote.delete(entry.clientID)
        else this.remote.set(entry.clientID, now)
      }
      const own = entries.length === all.length ? payload : encodeAwarenessEntries(entries)
      // onChange relays it to the members.
      awarenessProtocol.applyAwarenessUpdate(this.states, own, REMOTE)
    } catch (err) {
      this.options.log.warn(
        { err, room: this.options.name },
        'dropped an awareness update from another instance',
      )
    }
  }

  /**
   * Removes, for everyone, the states `member` introduced (call once it is no longer a member: the
   * removal is relayed to the members and published to other instances).
   */
  release(member: RoomMember): void {
    if (member.awarenessIds.size === 0) return
    const ids = [...member.awarenessIds]
    for (const id of ids) if (this.owners.get(id) === member) this.owners.delete(id)
    member.awarenessIds.clear()
    awarenessProtocol.removeAwarenessStates(this.states, ids, null)
  }

  /** Stops the states' timeout checks and forgets them. */
  destroy(): void {
    this.states.off('update', this.onChange)
    this.states.destroy()
  }

  /** True when `member` may apply `entry` (claiming its id if no one owns it). */
  private mayTouch(member: RoomMember, entry: AwarenessEntry): boolean {
    const owner = this.owners.get(entry.clientID)
    if (owner === member) {
      if (entry.json === 'null') {
        this.owners.delete(entry.clientID)
        member.awarenessIds.delete(entry.clientID)
      }
      return true
    }
    if (owner !== undefined || entry.json === 'null') return false
    const remoteSince = this.remote.get(entry.clientID)
    if (remoteSince !== undefined) {
      // Owned on another instance: until its state is removed or times out there (a client that
      // moved here after its instance died gets its id back then).
      if (Date.now() - remoteSince < awarenessProtocol.outdatedTimeout) return false
      this.remote.delete(entry.clientID)
    }
    const max = this.options.config.maxAwarenessClientsPerConnection
    if (member.awarenessIds.size >= max) {
      throw new PeerError(CloseCode.limitExceeded, `more than ${max} awareness client ids on one connection`)
    }
    this.owners.set(entry.clientID, member)
    member.awarenessIds.add(entry.clientID)
    return true
  }

  private encode(clients: number[]): Uint8Array {
    return encodeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.states, clients))
  }

  private readonly onChange = (
    change: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown,
  ): void => {
    const { members, bus, name } = this.options
    // A member's own changes are relayed (and published) by apply.
    if (members.has(origin as RoomMember)) return
    // A member left (origin null): other instances drop its states too. Timeouts happen on every
    // instance by themselves; another instance's changes are its own to publish.
    if (origin === null && change.removed.length > 0) {
      bus?.publish(
        name,
        BusKind.awareness,
        awarenessProtocol.encodeAwarenessUpdate(this.states, change.removed),
      )
    }
    // Server-side changes (a member left, a state timed out, another instance's change): tell
    // everyone, release ownership.
    for (const id of change.removed) {
      this.remote.delete(id)
      const owner = this.owners.get(id)
      if (owner) {
        this.owners.delete(id)
        owner.awarenessIds.delete(id)
      }
    }
    const changed = [...change.added, ...change.updated, ...change.removed]
    if (changed.length === 0 || members.size === 0) return
    const message = this.encode(changed)
    for (const member of members) member.send(message)
  }
}
