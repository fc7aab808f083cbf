/**
 * A loaded room's authorship: which identity each Yjs client id of its document writes for, and
 * the rule that keeps it true (PROTOCOL.md, "History and authorship").
 *
 * Every Yjs item carries its writer's client id. Before an update whose new structs carry a client
 * id the room has not bound is applied, the binding to the writer's identity is made durable in the
 * store (`AuthorStore.bindClient`, first writer wins across instances); an update with new structs
 * of a client id bound to another identity is refused whole (4409 on a socket, 403 over HTTP).
 * Deletions carry no client id of their writer (a Yjs delete set names the deleted items' ids), so
 * they are not bound. The update's shape, already decoded by admission, says which client ids it
 * writes: nothing is decoded again.
 *
 * The bindings are cached here, loaded with the room: only those of client ids its document holds,
 * and those bound since, so the cache is bounded by the document's client ids (admission bounds
 * them by `maxRoomClients`). A miss is not trusted: binding asks the store, which answers with the
 * binding another instance may have made; reading the spans re-reads the store for client ids the
 * text holds and the cache lacks (another instance's writers).
 *
 * A connection's identity is taken at its first write and kept for the rest of the connection, so a
 * stock client renamed while connected keeps writing (a connection that wrote with neither a token
 * nor a presence of its own is asked again at its next write). Its presence is only its own
 * awareness state: a state under an awareness id another connection holds is not its own. One case
 * has no state to read: a stock client that reconnects to the same server sends its presence with
 * the awareness clock it had, which y-protocols ignores until it passes the clock the server's
 * removal of its old state reached (up to 30 s). A connection without a token or a presence that
 * holds the awareness id equal to a client id it writes with (stock providers use one id for both;
 * no other connection holds it) writes as that id's binding. That trusts it as far as presence is
 * trusted anyway: without tokens anyone may show any name or `user.id`; with a token the identity is
 * the token's. Text the server writes for an HTTP caller
 * (`Room.editText`) is written under a client id of the server's own bound to the caller's identity:
 * one per identity per room load, reused while nothing else has written under it (its clock is
 * where this instance left it; another instance uses its own).
 */
import * as random from 'lib0/random'
import * as Y from 'yjs'
import { CloseCode } from '../../shared/protocol/index.ts'
import { PeerError } from '../admission/peer-error.ts'
import type { UpdateShape } from '../admission/update-shape.ts'
import type { AuthorIdentity, AuthorStore } from '../store/history-store.ts'
import { connectionIdentity, type TokenHolder } from './identity.ts'

/** What identifying a connection needs of it (rooms/room-member.ts `RoomMember`). */
export interface IdentifiedMember {
  readonly awarenessIds: Iterable<number> & { has(id: number): boolean }
  readonly token?: TokenHolder | null
}

/** Tries at a fresh random client id for the server's writes before giving up (each a store write). */
const OWN_CLIENT_TRIES = 4

export class RoomAuthors {
  /** Client id → identity key, for client ids known here (see the module comment). */
  private readonly clients: Map<number, string>
  /** Identity key → latest identity known (name, colour). */
  private readonly identities: Map<string, AuthorIdentity>
  /** Bindings asked of the store and not yet answered, by client id. */
  private readonly binding = new Map<number, Promise<string>>()
  /**
   * Each connection's identity from its first write on, with the presence `user` object it was
   * last read from (y-protocols replaces a state's object on every change: the same object, the
   * same presence, nothing to read again).
   */
  private readonly pinned = new WeakMap<IdentifiedMember, { identity: AuthorIdentity; user: unknown }>()
  /** The server's own client id per identity key, with the clock it left it at. */
  private readonly own = new Map<string, { client: number; clock: number }>()
  private readonly making = new Map<string, Promise<number>>()
  /**
   * Client ids the store had no binding for when last asked, with their clock then (text written
   * before authorship was kept): not asked again until their clock moves, as a binding always comes
   * before a client id's next struct.
   */
  private readonly unboundAt = new Map<number, number>()

  private constructor(
    private readonly room: string,
    private readonly store: AuthorStore,
    private readonly doc: Y.Doc,
    bound: { clients: Map<number, string>; identities: Map<string, AuthorIdentity> },
  ) {
    this.clients = new Map()
    for (const [client, key] of bound.clients)
      if (doc.store.clients.has(client)) this.clients.set(client, key)
    this.identities = bound.identities
  }

  /** Reads `room`'s bindings from `store` for its loaded document `doc`. */
  static async load(room: string, store: AuthorStore, doc: Y.Doc): Promise<RoomAuthors> {
    return new RoomAuthors(room, store, doc, await store.roomAuthors(room))
  }

  /** The identity key `client` is bound to, as known here (undefined: not known here). */
  keyOf(client: number): string | undefined {
    return this.clients.get(client)
  }

  /** The latest name and colour of identity `key`, where known. */
  identity(key: string): AuthorIdentity | undefined {
    return this.identities.get(key)
  }

  /**
   * The identity `member` writes as when it writes with `clients`: its key pinned at its first write
   * with a token or a presence, from its token and its presence (the first of its own awareness
   * states with a `user`) in `states`; its name and colour the presence's latest (a rename); without
   * a token or presence, see the module comment.
   */
  memberIdentity(
    member: IdentifiedMember,
    states: ReadonlyMap<number, unknown>,
    clients: readonly number[],
  ): AuthorIdentity {
    let presence: { user?: unknown } | null = null
    for (const id of member.awarenessIds) {
      const state = states.get(id) as { user?: unknown } | undefined
      if (state?.user) {
        presence = state
        break
      }
    }
    const pinned = this.pinned.get(member)
    if (pinned) {
      if (presence === null || presence.user === pinned.user) return pinned.identity
      const was = pinned.identity
      const now = connectionIdentity(member.token ?? null, presence)
      pinned.user = presence.user
      if (now.name !== was.name || (now.color ?? was.color) !== was.color) {
        pinned.identity = { key: was.key, name: now.name, color: now.color ?? was.color }
      }
      return pinned.identity
    }
    if (presence === null && !member.token) {
      const held = clients.find((client) => member.awarenessIds.has(client) && this.clients.has(client))
      const key = held === undefined ? undefined : this.clients.get(held)
      if (key !== undefined) return this.identities.get(key) ?? { key, name: key, color: null }
    }
    const identity = connectionIdentity(member.token ?? null, presence)
    if (presence !== null || member.token) this.pinned.set(member, { identity, user: presence?.user })
    return identity
  }

  /**
   * Whether `identity()` may write the structs of an update of `shape` (checked against the document
   * as it is): null when every client id it adds structs to is bound to that identity; a promise
   * when some are not bound yet, which resolves once they are bound to it (durably) and rejects with
   * PeerError 4409 when one turns out bound to another identity. Throws that PeerError at once when
   * the cache knows one is. `identity` is asked (with those client ids) only when there are some.
   */
  admit(shape: UpdateShape, identity: (clients: readonly number[]) => AuthorIdentity): Promise<void> | null {
    const written: number[] = []
    for (const block of shape.blocks) {
      if (block.end > Y.getState(this.doc.store, block.client)) written.push(block.client)
    }
    if (written.length === 0) return null
    const as = identity(written)
    const unbound: number[] = []
    for (const client of written) {
      const key = this.clients.get(client)
      if (key === undefined) unbound.push(client)
      else if (key !== as.key) throw mismatch(client)
    }
    const known = this.identities.get(as.key)
    if (known && (known.name !== as.name || (as.color !== null && known.color !== as.color))) {
      this.rename(
        as,
        written.find((client) => this.clients.get(client) === as.key),
      )
    }
    if (unbound.length === 0) return null
    return Promise.all(unbound.map((client) => this.bind(client, as))).then((keys) => {
      const other = keys.findIndex((key) => key !== as.key)
      if (other >= 0) throw mismatch(unbound[other])
    })
  }

  /**
   * Records `identity`'s new name or colour here and in the store (through a client id bound to it,
   * when one is at hand; else its next binding records it). Not awaited: a name is not worth holding
   * an update for, and a failed write is made again at the identity's next write.
   */
  private rename(identity: AuthorIdentity, client: number | undefined): void {
    const previous = this.identities.get(identity.key)
    this.identities.set(identity.key, identity)
    if (client === undefined) return
    this.store.bindClient(this.room, client, identity).catch(() => {
      // Not recorded: the old name stands here too, so the next write tries again.
      if (this.identities.get(identity.key) === identity && previous)
        this.identities.set(identity.key, previous)
    })
  }

  /**
   * The client id the server writes under for `identity` now (see the module comment), or null
   * when it needs a new one first (`makeOwnClient`).
   */
  ownClient(identity: AuthorIdentity): number | null {
    const own = this.own.get(identity.key)
    if (!own || Y.getState(this.doc.store, own.client) !== own.clock) return null
    return own.client
  }

  /** Binds a new random client id to `identity` for the server's writes; resolves with it. */
  makeOwnClient(identity: AuthorIdentity): Promise<number> {
    let making = this.making.get(identity.key)
    if (!making) {
      making = this.newOwnClient(identity).finally(() => this.making.delete(identity.key))
      this.making.set(identity.key, making)
    }
    return making
  }

  /** Records that the server wrote under `client` for `identity` (its clock moved on). */
  wrote(identity: AuthorIdentity, client: number): void {
    this.own.set(identity.key, { client, clock: Y.getState(this.doc.store, client) })
  }

  /**
   * Reads the store's bindings again for `clients` the cache lacks (bound by another instance), and
   * keeps those the document holds. Resolves once done.
   */
  async refresh(clients: Iterable<number>): Promise<void> {
    const clock = (client: number) => Y.getState(this.doc.store, client)
    const missing = [...clients].filter(
      (client) => !this.clients.has(client) && this.unboundAt.get(client) !== clock(client),
    )
    if (missing.length === 0) return
    const stored = await this.store.roomAuthors(this.room)
    for (const client of missing) {
      const key = stored.clients.get(client)
      if (!this.doc.store.clients.has(client)) continue
      if (key === undefined) this.unboundAt.set(client, clock(client))
      else {
        this.clients.set(client, key)
        this.unboundAt.delete(client)
      }
    }
    for (const [key, identity] of stored.identities) this.identities.set(key, identity)
  }

  /** Binds `client` to `identity` in the store (one request per client id at a time); resolves with the key it is bound to. */
  private bind(client: number, identity: AuthorIdentity): Promise<string> {
    const known = this.clients.get(client)
    if (known !== undefined) return Promise.resolve(known)
    let pending = this.binding.get(client)
    if (!pending) {
      pending = this.store.bindClient(this.room, client, identity).then(
        (key) => {
          this.binding.delete(client)
          this.clients.set(client, key)
          if (key === identity.key) this.identities.set(key, identity)
          return key
        },
        (err: unknown) => {
          this.binding.delete(client)
          throw err
        },
      )
      this.binding.set(client, pending)
    }
    return pending
  }

  private async newOwnClient(identity: AuthorIdentity): Promise<number> {
    for (let tries = 0; tries < OWN_CLIENT_TRIES; tries++) {
      const client = random.uint32()
      if (this.doc.store.clients.has(client) || this.clients.has(client)) continue
      if ((await this.bind(client, identity)) !== identity.key) continue
      this.wrote(identity, client)
      return client
    }
    throw new Error(`no free client id for the server's writes in room ${this.room}`)
  }
}

function mismatch(client: number): PeerError {
  return new PeerError(
    CloseCode.authorMismatch,
    `structs of client id ${client}, which the room has bound to another author`,
  )
}
