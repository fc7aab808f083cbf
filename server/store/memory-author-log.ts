/**
 * The memory store's author log: AuthorStore in this process's maps (nothing survives a restart),
 * with the durable stores' semantics: first binding wins, names and colours are the latest known.
 */
import type { AuthorIdentity, AuthorStore } from './history-store.ts'

export class MemoryAuthorLog implements AuthorStore {
  private readonly rooms = new Map<
    string,
    { clients: Map<number, string>; identities: Map<string, AuthorIdentity> }
  >()

  async bindClient(room: string, clientId: number, identity: AuthorIdentity): Promise<string> {
    let authors = this.rooms.get(room)
    if (!authors) {
      authors = { clients: new Map(), identities: new Map() }
      this.rooms.set(room, authors)
    }
    const bound = authors.clients.get(clientId)
    if (bound === undefined) authors.clients.set(clientId, identity.key)
    const known = authors.identities.get(identity.key)
    authors.identities.set(identity.key, {
      key: identity.key,
      name: identity.name,
      color: identity.color ?? known?.color ?? null,
    })
    return bound ?? identity.key
  }

  async roomAuthors(room: string) {
    const authors = this.rooms.get(room)
    return { clients: new Map(authors?.clients), identities: new Map(authors?.identities) }
  }
}
