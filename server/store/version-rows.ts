/**
 * How the SQL stores (sqlite-version-log.ts, postgres-version-log.ts) keep a version: one row of
 * `versions` per version, its facts in columns and its content in `content` (the whole text when
 * `checkpoint`, else the op's JSON, version-checks.ts encodeContent); `authors` is a JSON array.
 * Ids come from a per-room counter row (`version_ids`), so an id is never given twice, even after
 * the latest version is deleted.
 */
import type { StoredVersion, VersionInfo, VersionKind } from './history-store.ts'
import { decodeContent } from './version-checks.ts'

/** The facts' columns, in the order `factsOf` reads them. */
export const VERSION_COLUMNS = 'id, at, change_id, kind, name, length, authors, by, restored_from'

/** A row as the drivers return it (PostgreSQL gives bigint as text, jsonb parsed; SQLite numbers, text). */
export interface VersionRow {
  id: number | string
  at: number | string
  change_id: number | string
  kind: string
  name: string | null
  length: number | string
  authors: string | string[]
  by: string | null
  restored_from: number | string | null
}

export interface StoredVersionRow extends VersionRow {
  checkpoint: number | boolean
  content: string
}

export function factsOf(row: VersionRow): VersionInfo {
  return {
    id: Number(row.id),
    at: Number(row.at),
    changeId: Number(row.change_id),
    kind: row.kind as VersionKind,
    name: row.name,
    length: Number(row.length),
    authors: typeof row.authors === 'string' ? (JSON.parse(row.authors) as string[]) : row.authors,
    by: row.by,
    restoredFrom: row.restored_from === null ? null : Number(row.restored_from),
  }
}

function storedVersionOf(row: StoredVersionRow): StoredVersion {
  return { ...factsOf(row), content: decodeContent(Boolean(row.checkpoint), row.content) }
}

/** The rows from a checkpoint up to `id` as a chain; empty unless the last one is version `id`. */
export function chainEndingAt(rows: readonly StoredVersionRow[], id: number): StoredVersion[] {
  const chain = rows.map(storedVersionOf)
  return chain.at(-1)?.id === id ? chain : []
}
