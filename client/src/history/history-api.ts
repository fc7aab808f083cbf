/**
 * The editor's side of a room's history API (PROTOCOL.md, "History and authorship"): the versions,
 * one version's text, its diff against the current text, naming the current text, deleting a version
 * and restoring one (whole, or a range of its text). Answers are read defensively: a body that is not
 * what the contract says throws a RoomApiError like a refusal does.
 */
import type { VersionInfo, VersionKind } from '../../../server/store/history-store.ts'
import { jsonBody } from '../access-api.ts'
import { type RoomApi, RoomApiError, roomRequest } from '../room-api.ts'

export type { VersionInfo }

/** One run of a diff: text both have, text only the other has (insert), or text only the version has (delete). */
export type DiffRun = { equal: number } | { insert: string } | { delete: string }

/** A version's diff against the current text: runs turning the version's text into the current one. */
export interface VersionDiff {
  from: number
  runs: DiffRun[]
  inserted: number
  deleted: number
}

/** A range of a version's text, in UTF-16 code units. */
export interface TextRange {
  from: number
  to: number
}

const KINDS: readonly VersionKind[] = ['auto', 'named', 'restore']

const malformed = () =>
  new RoomApiError(502, 'malformed_answer', 'The server answered with something unexpected.')

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0
const stringOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null)
const numberOrNull = (value: unknown): number | null => (isCount(value) ? value : null)

/** Reads one VersionInfo; null when it is not one. */
export function parseVersion(body: unknown): VersionInfo | null {
  if (typeof body !== 'object' || body === null) return null
  const b = body as Record<string, unknown>
  if (!isCount(b.id) || !isCount(b.at) || !KINDS.includes(b.kind as VersionKind)) return null
  const authors = Array.isArray(b.authors) ? b.authors.filter((a) => typeof a === 'string') : []
  return {
    id: b.id,
    at: b.at,
    changeId: isCount(b.changeId) ? b.changeId : 0,
    kind: b.kind as VersionKind,
    name: stringOrNull(b.name),
    length: isCount(b.length) ? b.length : 0,
    authors,
    by: stringOrNull(b.by),
    restoredFrom: numberOrNull(b.restoredFrom),
  }
}

/** Reads diff runs; null when one is not a run. */
export function parseRuns(value: unknown): DiffRun[] | null {
  if (!Array.isArray(value)) return null
  const runs: DiffRun[] = []
  for (const run of value) {
    if (typeof run !== 'object' || run === null) return null
    const r = run as Record<string, unknown>
    if (isCount(r.equal)) runs.push({ equal: r.equal })
    else if (typeof r.insert === 'string') runs.push({ insert: r.insert })
    else if (typeof r.delete === 'string') runs.push({ delete: r.delete })
    else return null
  }
  return runs
}

const versionPath = (id: number) => `/versions/${id}`

/** The room's versions, newest first. */
export async function listVersions(api: RoomApi): Promise<VersionInfo[]> {
  const body = (await jsonBody(await roomRequest(api, '/versions'))) as { versions?: unknown } | null
  if (!Array.isArray(body?.versions)) throw malformed()
  return body.versions.map(parseVersion).filter((v): v is VersionInfo => v !== null)
}

/** Version `id`'s text. */
export async function versionText(api: RoomApi, id: number): Promise<string> {
  return (await roomRequest(api, versionPath(id))).text()
}

/** Version `id`'s diff against the current text. */
export async function versionDiff(api: RoomApi, id: number): Promise<VersionDiff> {
  const response = await roomRequest(api, `${versionPath(id)}/diff?against=current`)
  const body = (await jsonBody(response)) as Record<string, unknown> | null
  const runs = parseRuns(body?.runs)
  if (!runs) throw malformed()
  const count = (kind: 'insert' | 'delete') =>
    runs.reduce((sum, run) => sum + (kind in run ? (run as Record<string, string>)[kind].length : 0), 0)
  return {
    from: id,
    runs,
    inserted: isCount(body?.inserted) ? body.inserted : count('insert'),
    deleted: isCount(body?.deleted) ? body.deleted : count('delete'),
  }
}

/** Makes a named version of the current text. */
export async function nameVersion(api: RoomApi, name: string): Promise<VersionInfo> {
  const response = await roomRequest(api, '/versions', { method: 'POST', body: { name } })
  const version = parseVersion(((await jsonBody(response)) as { version?: unknown } | null)?.version)
  if (!version) throw malformed()
  return version
}

/** Deletes version `id`. */
export async function deleteVersion(api: RoomApi, id: number): Promise<void> {
  await roomRequest(api, versionPath(id), { method: 'DELETE' })
}

/**
 * Restores version `id` as a new change: its whole text, or only `range` of it (brought back where
 * that range lies in today's text). Resolves with the restore's own version, when the answer has it.
 */
export async function restoreVersion(
  api: RoomApi,
  id: number,
  range: TextRange | null = null,
): Promise<VersionInfo | null> {
  const response = await roomRequest(api, `${versionPath(id)}/restore`, {
    method: 'POST',
    body: range ? { from: range.from, to: range.to } : {},
  })
  return parseVersion(((await jsonBody(response)) as { version?: unknown } | null)?.version)
}
