/**
 * Retention of automatic versions (server/history/retention.ts) with fixed clocks: all kept for
 * keepAllDays, then the latest of each hour until hourlyDays, then the latest of each day; named
 * and restore versions and the latest version never dropped; a second run drops nothing more.
 */
import { describe, expect, it } from 'vitest'
import { versionsToDrop } from '../server/history/retention.ts'
import type { VersionInfo, VersionKind } from '../server/store/history-store.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const NOW = Date.UTC(2026, 5, 30, 12, 0)
const POLICY = { keepAllDays: 7, hourlyDays: 30 }

type Version = Pick<VersionInfo, 'id' | 'at' | 'kind'>

/** Versions at the given ages (ms before NOW), oldest first, numbered 1, 2, … */
function versionsAt(ages: number[], kinds: Record<number, VersionKind> = {}): Version[] {
  return ages
    .slice()
    .sort((a, b) => b - a)
    .map((age, i) => ({ id: i + 1, at: NOW - age, kind: kinds[i + 1] ?? 'auto' }))
}

/** Drops `versionsToDrop` names from `versions`. */
const thin = (versions: Version[], now = NOW) => {
  const drop = new Set(versionsToDrop(versions, POLICY, now))
  return versions.filter((v) => !drop.has(v.id))
}

describe('history retention', () => {
  it('keeps every version younger than keepAllDays', () => {
    const versions = versionsAt([6 * DAY + 23 * HOUR, 3 * DAY, 3 * DAY - MINUTE, HOUR, MINUTE])
    expect(versionsToDrop(versions, POLICY, NOW)).toEqual([])
  })

  it('keeps the latest of each hour until hourlyDays, then the latest of each day', () => {
    // Hours and days are buckets of the epoch: NOW is 12:00 UTC, so 10 days ago at 12:05-12:50 is one hour.
    const tenDays = 10 * DAY - 5 * MINUTE
    const fortyDays = 40 * DAY - 5 * MINUTE
    const versions = versionsAt([
      tenDays, // 12:05
      tenDays - 20 * MINUTE, // 12:25
      tenDays - 45 * MINUTE, // 12:50: the latest of its hour
      tenDays - 60 * MINUTE, // 13:05: the next hour
      fortyDays, // 40 days ago, 12:05
      fortyDays - 5 * HOUR, // same day, 17:05: the latest of its day
      fortyDays + 13 * HOUR, // the day before, 23:05
      MINUTE, // young, and the latest
    ])
    const kept = thin(versions).map((v) => NOW - v.at)
    expect(kept).toEqual([
      fortyDays + 13 * HOUR,
      fortyDays - 5 * HOUR,
      tenDays - 45 * MINUTE,
      tenDays - 60 * MINUTE,
      MINUTE,
    ])
    expect(versionsToDrop(thin(versions), POLICY, NOW)).toEqual([])
  })

  it('never drops named or restore versions, nor the latest', () => {
    const versions = versionsAt([50 * DAY, 50 * DAY - MINUTE, 50 * DAY - 2 * MINUTE, 50 * DAY - 3 * MINUTE], {
      1: 'named',
      2: 'restore',
    })
    expect(versionsToDrop(versions, POLICY, NOW)).toEqual([3])
    const lonely = versionsAt([100 * DAY, 100 * DAY - MINUTE])
    expect(versionsToDrop(lonely, POLICY, NOW)).toEqual([1])
    expect(versionsToDrop(lonely.slice(1), POLICY, NOW)).toEqual([])
  })

  it('thins a year of versions every 10 minutes to its policy as the clock moves on', () => {
    const versions: Version[] = []
    for (let at = NOW - 365 * DAY, id = 1; at <= NOW; at += 10 * MINUTE, id++)
      versions.push({ id, at, kind: 'auto' })
    let kept = thin(versions)
    const count = (from: number, to: number) =>
      kept.filter((v) => v.at >= NOW - from && v.at < NOW - to).length
    expect(count(7 * DAY, -1)).toBe(7 * 24 * 6 + 1)
    expect(count(30 * DAY, 7 * DAY)).toBe(23 * 24)
    expect(count(365 * DAY + HOUR, 30 * DAY)).toBeLessThanOrEqual(336)
    // A day later, yesterday's 8th-day versions are thinned to hours; nothing else changes.
    const before = kept.length
    kept = thin(kept, NOW + DAY)
    expect(before - kept.length).toBeGreaterThanOrEqual(24 * 5 - 1)
    expect(thin(kept, NOW + DAY)).toEqual(kept)
  })
})
