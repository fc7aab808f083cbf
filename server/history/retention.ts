/**
 * The retention policy of automatic versions (PROTOCOL.md, "History and authorship"): which of a
 * room's versions thinning drops at a given time. Pure: the caller passes the clock.
 *
 *   age <  keepAllDays                 every version kept
 *   age <  hourlyDays                  the latest automatic version of each clock hour kept
 *   older                              the latest automatic version of each (UTC) day kept
 *
 * Named and restore versions are never dropped, nor the room's latest version. Hours and days are
 * fixed buckets of the epoch, so what a run keeps a later run keeps too until it ages into days:
 * thinning twice at one time drops nothing the second time.
 */
import type { VersionInfo } from '../store/history-store.ts'

/** How long automatic versions are kept (history* options). */
export interface RetentionPolicy {
  /** Every version younger than this many days is kept. */
  readonly keepAllDays: number
  /** Then one per hour until this many days; one per day after. */
  readonly hourlyDays: number
}

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** The ids of `versions` (any order) that `policy` drops at `now` (ms since the epoch), ascending. */
export function versionsToDrop(
  versions: readonly Pick<VersionInfo, 'id' | 'at' | 'kind'>[],
  policy: RetentionPolicy,
  now: number,
): number[] {
  if (versions.length === 0) return []
  const latest = versions.reduce((a, b) => (b.id > a.id ? b : a))
  const keepAllSince = now - policy.keepAllDays * DAY
  const hourlySince = now - Math.max(policy.hourlyDays, policy.keepAllDays) * DAY
  /** Bucket key → the latest automatic version in it so far. */
  const kept = new Map<string, Pick<VersionInfo, 'id' | 'at'>>()
  const candidates: { id: number; bucket: string }[] = []
  for (const version of versions) {
    // The latest version is never dropped, and is its bucket's keeper when it is in one.
    if ((version.kind !== 'auto' && version.id !== latest.id) || version.at >= keepAllSince) continue
    const bucket =
      version.at >= hourlySince ? `h${Math.floor(version.at / HOUR)}` : `d${Math.floor(version.at / DAY)}`
    candidates.push({ id: version.id, bucket })
    const best = kept.get(bucket)
    if (!best || version.at > best.at || (version.at === best.at && version.id > best.id))
      kept.set(bucket, version)
  }
  return candidates
    .filter(({ id, bucket }) => id !== latest.id && kept.get(bucket)!.id !== id)
    .map(({ id }) => id)
    .sort((a, b) => a - b)
}
