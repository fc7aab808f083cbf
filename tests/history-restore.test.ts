/**
 * Restore as one text edit (server/history/restore.ts) on a driven room: what a restore makes when
 * nothing happens meanwhile, and when changes are committed and applied (pending) between the diff
 * and the edit (they survive, as concurrent edits do), or memory forgets the changes since the
 * diff's text (the diff is made again). Seeded: random texts, random versions, random ranges.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  type Differ,
  MAX_ATTEMPTS,
  RestoreBusyError,
  RestoreConflictError,
  RestoreRangeError,
  restoreVersion,
} from '../server/history/restore.ts'
import { diffTexts, mapRange } from '../server/history/text-diff.ts'
import type { EditableRoom } from '../server/http/text-edit.ts'
import type { RoomChangeLog, SequencedChange, TextDelta } from '../server/rooms/change-log.ts'
import type { VersionInfo } from '../server/store/history-store.ts'
import { seededTest } from './helpers/seed.ts'

const VERSION: VersionInfo = {
  id: 7,
  at: 0,
  changeId: 1,
  kind: 'named',
  name: 'v',
  length: 0,
  authors: [],
  by: null,
  restoredFrom: null,
}

/**
 * A room whose text is a Y.Text: `text()` is the text at `latestId` (`committedText`); deltas in
 * `pending` are applied to the document after it, not yet committed. `editText` commits the edit
 * and whatever was pending.
 */
class DrivenRoom implements EditableRoom {
  readonly name = 'driven'
  readonly yText = new Y.Doc().getText('t')
  committed: SequencedChange[] = []
  pending: TextDelta[] = []
  committedText: string
  /** `since` answers null below this id (memory forgot). */
  forgetBefore = 0

  constructor(text: string) {
    this.yText.insert(0, text)
    this.committedText = text
  }

  /** Commits `delta` as the newest change (nothing may be pending). */
  commit(delta: TextDelta): void {
    this.yText.applyDelta(delta as never)
    this.committedText = this.yText.toString()
    this.committed.push({ id: this.committed.length + 1, at: 0, author: 'someone', delta })
  }

  /** Applies `delta` to the document without committing it. */
  applyPending(delta: TextDelta): void {
    this.yText.applyDelta(delta as never)
    this.pending.push(delta)
  }

  readonly changes = ((room: DrivenRoom) =>
    ({
      get latestId() {
        return room.committed.length
      },
      text: () => room.committedText,
      since: (after: number) =>
        after < room.forgetBefore ? null : room.committed.filter((change) => change.id > after),
      pending: () => room.pending,
      unitsAt: (indexes: readonly number[]) =>
        indexes.map((at) => (at < room.yText.length ? room.yText.toString().charCodeAt(at) : Number.NaN)),
    }) as unknown as RoomChangeLog)(this)

  editText(edit: (text: Y.Text) => void): Promise<number> {
    this.yText.doc!.transact(() => edit(this.yText))
    this.committedText = this.yText.toString()
    this.pending = []
    this.committed.push({ id: this.committed.length + 1, at: 0, author: 'restorer', delta: [] })
    return Promise.resolve(this.committed.length)
  }
}

const recorder = {
  recorded: [] as Array<{ from: number; by: string | null }>,
  async recordRestore(from: VersionInfo, by: string | null) {
    this.recorded.push({ from: from.id, by })
    return { ...from, id: 99, kind: 'restore' as const, restoredFrom: from.id, by }
  },
}

const plainDiffer: Differ = async (from, to, cleanup) => diffTexts(from, to, { cleanup })

const WORDS = ['one ', 'two ', 'three ', '😀 ', 'e\u0301 ', '\n']

function words(gen: prng.PRNG, count: number): string {
  let text = ''
  for (let i = 0; i < count; i++) text += prng.oneOf(gen, WORDS)
  return text
}

describe('restoreVersion', () => {
  seededTest('makes the text the version’s, or brings back exactly the range', async (gen) => {
    for (let i = 0; i < 100; i++) {
      const version = words(gen, prng.uint32(gen, 0, 12))
      const now = words(gen, prng.uint32(gen, 0, 12))
      const full = new DrivenRoom(now)
      await restoreVersion(full, recorder, VERSION, version, null, 'Ada', { differ: plainDiffer })
      expect(full.yText.toString()).toBe(version)

      const cut = () => {
        const at = prng.uint32(gen, 0, version.length)
        return /[\udc00-\udfff]/.test(version[at] ?? '') ? at - 1 : at
      }
      const [a, b] = [cut(), cut()]
      const range = { from: Math.min(a, b), to: Math.max(a, b) }
      const partial = new DrivenRoom(now)
      await restoreVersion(partial, recorder, VERSION, version, range, 'Ada', { differ: plainDiffer })
      const mapped = mapRange(diffTexts(version, now, { cleanup: 'lossless' }).runs, range.from, range.to)
      expect(partial.yText.toString()).toBe(
        now.slice(0, mapped.from) + version.slice(range.from, range.to) + now.slice(mapped.to),
      )
    }
    expect(recorder.recorded.at(-1)).toEqual({ from: VERSION.id, by: 'Ada' })
  })

  it('keeps what was committed and applied between the diff and the edit', async () => {
    const room = new DrivenRoom('the cat sat on the mat')
    const differ: Differ = async (from, to, cleanup) => {
      const diff = diffTexts(from, to, { cleanup })
      // Meanwhile: "!" committed at the end, then "big " applied (pending) before "cat".
      room.commit([{ retain: 22 }, { insert: '!' }])
      room.applyPending([{ retain: 4 }, { insert: 'big ' }])
      return diff
    }
    const result = await restoreVersion(room, recorder, VERSION, 'the dog sat on the mat', null, 'Ada', {
      differ,
    })
    expect(room.yText.toString()).toBe('the big dog sat on the mat!')
    expect(result.changeId).toBe(2)
  })

  it('diffs again when memory no longer holds the changes since the diff', async () => {
    const room = new DrivenRoom('abc')
    let diffs = 0
    const differ: Differ = async (from, to, cleanup) => {
      diffs++
      if (diffs === 1) {
        room.commit([{ retain: 3 }, { insert: 'd' }])
        room.forgetBefore = 1
      }
      return diffTexts(from, to, { cleanup })
    }
    await restoreVersion(room, recorder, VERSION, 'xyz', null, null, { differ })
    expect(diffs).toBe(2)
    expect(room.yText.toString()).toBe('xyz')
  })

  it('gives up with RestoreBusyError when memory keeps forgetting, after MAX_ATTEMPTS diffs', async () => {
    const room = new DrivenRoom('abc')
    let diffs = 0
    const differ: Differ = async (from, to, cleanup) => {
      diffs++
      room.commit([{ retain: room.yText.length }, { insert: String(diffs) }])
      room.forgetBefore = room.committed.length
      return diffTexts(from, to, { cleanup })
    }
    await expect(restoreVersion(room, recorder, VERSION, 'xyz', null, null, { differ })).rejects.toThrow(
      RestoreBusyError,
    )
    expect(diffs).toBe(MAX_ATTEMPTS)
    expect(room.yText.toString()).toBe('abc123')
  })

  it('refuses, writing nothing, an edit that carried over a concurrent one would split a surrogate pair', async () => {
    // A lone low surrogate; the version has "Z" before it. Meanwhile a writer puts a lone high
    // surrogate in front of it (a pair now), where the restore's "Z" would land between the two.
    const room = new DrivenRoom('a\udE00b')
    const differ: Differ = async (from, to, cleanup) => {
      const diff = diffTexts(from, to, { cleanup })
      room.applyPending([{ retain: 1 }, { insert: '\ud83d' }])
      return diff
    }
    await expect(
      restoreVersion(room, recorder, VERSION, 'aZ\udE00b', null, null, { differ }),
    ).rejects.toThrow(RestoreConflictError)
    expect(room.yText.toString()).toBe('a😀b')
  })

  it('refuses a range that is not one of the version’s text', async () => {
    const room = new DrivenRoom('now')
    const restore = (from: number, to: number) =>
      restoreVersion(room, recorder, VERSION, 'a😀b', { from, to }, null, { differ: plainDiffer })
    await expect(restore(2, 1)).rejects.toThrow(RestoreRangeError)
    await expect(restore(0, 5)).rejects.toThrow(RestoreRangeError)
    await expect(restore(2, 4)).rejects.toThrow(RestoreRangeError)
    await expect(restore(0, 2)).rejects.toThrow(RestoreRangeError)
    expect(room.yText.toString()).toBe('now')
    // Inside a replacement (all of "a😀b" became "now"): it comes back after what replaced it.
    await restore(1, 3)
    expect(room.yText.toString()).toBe('now😀')
  })
})
