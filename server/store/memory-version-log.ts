/**
 * The memory store's versions (VersionStore, server/store/history-store.ts): per room, the
 * versions in id order with their contents, and the last id given (ids are never reused). Nothing
 * survives the process; the rules are the stores' own (version-checks.ts checkAddBase, checkRemoval).
 */
import type { NewVersion, StoredVersion, VersionContent, VersionInfo, VersionStore } from './history-store.ts'
import { checkAddBase, checkRemoval } from './version-checks.ts'

interface RoomVersions {
  lastId: number
  versions: StoredVersion[]
}

/** A version's facts without its content. */
export function versionInfo({ content: _content, ...info }: StoredVersion): VersionInfo {
  return info
}

/** The content as stored: an op without its `base`. */
export function storedContent(content: VersionContent): VersionContent {
  return 'text' in content ? { text: content.text } : { op: content.op }
}

export class MemoryVersionLog implements VersionStore {
  private readonly rooms = new Map<string, RoomVersions>()

  private of(room: string): RoomVersions {
    const versions = this.rooms.get(room) ?? { lastId: 0, versions: [] }
    this.rooms.set(room, versions)
    return versions
  }

  async addVersion(room: string, version: NewVersion, content: VersionContent): Promise<VersionInfo | null> {
    const versions = this.of(room)
    const latest = versions.versions.at(-1)
    if (version.kind === 'auto' && latest && latest.changeId >= version.changeId) return null
    checkAddBase(content, latest?.id ?? null)
    const stored: StoredVersion = { ...version, id: ++versions.lastId, content: storedContent(content) }
    versions.versions.push(stored)
    return versionInfo(stored)
  }

  async listVersions(room: string): Promise<VersionInfo[]> {
    return (this.rooms.get(room)?.versions ?? []).map(versionInfo)
  }

  async versionChain(room: string, id: number): Promise<StoredVersion[]> {
    const versions = this.rooms.get(room)?.versions ?? []
    const end = versions.findIndex((version) => version.id === id)
    if (end < 0) return []
    let start = end
    while (start > 0 && !('text' in versions[start].content)) start--
    return versions.slice(start, end + 1)
  }

  async removeVersions(
    room: string,
    ids: readonly number[],
    rewritten: ReadonlyMap<number, VersionContent>,
  ): Promise<number> {
    const versions = this.rooms.get(room)
    if (!versions) return 0
    const current = versions.versions.map(({ id, content }) => ({ id, checkpoint: 'text' in content }))
    const gone = new Set(checkRemoval(current, ids, rewritten))
    versions.versions = versions.versions
      .filter((version) => !gone.has(version.id))
      .map((version) => {
        const content = rewritten.get(version.id)
        return content ? { ...version, content: storedContent(content) } : version
      })
    return gone.size
  }
}
