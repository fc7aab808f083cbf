/**
 * The browser's history and authorship modules without a browser: reading the API's answers
 * defensively, laying a diff's runs on a version's text (seeded: random texts diffed with the
 * library the server uses), the words the History panel shows, authors' colours, and the calls'
 * URLs, tokens and author header.
 */
import { diffMain } from 'diff-match-patch-es'
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import { authorColors, keyIndex, presenceColor } from '../client/src/authors/author-colors.ts'
import { parseAuthorship } from '../client/src/authors/authors-api.ts'
import { type DiffRun, parseRuns, parseVersion, restoreVersion } from '../client/src/history/history-api.ts'
import { diffSummary, versionAuthors, versionTitle } from '../client/src/history/history-panel.ts'
import { diffMarks } from '../client/src/history/version-preview.ts'
import { loadIdentity, PALETTE, saveName } from '../client/src/identity.ts'
import { RoomApiError, utf8HeaderValue } from '../client/src/room-api.ts'
import { seededTest } from './helpers/seed.ts'

const VERSION = {
  id: 3,
  at: 1_700_000_000_000,
  changeId: 42,
  kind: 'named',
  name: 'Draft',
  length: 10,
  authors: ['Ada', 'Bob'],
  by: 'Ada',
  restoredFrom: null,
}

const runsOf = (from: string, to: string): DiffRun[] =>
  diffMain(from, to).map(([op, text]) =>
    op === 0 ? { equal: text.length } : op === 1 ? { insert: text } : { delete: text },
  )

describe('history answers', () => {
  it('reads versions and refuses what is not one', () => {
    expect(parseVersion(VERSION)).toEqual(VERSION)
    expect(parseVersion({ ...VERSION, authors: ['Ada', 7], extra: 1 })?.authors).toEqual(['Ada'])
    expect(parseVersion({ ...VERSION, kind: 'other' })).toBeNull()
    expect(parseVersion({ ...VERSION, id: -1 })).toBeNull()
    expect(parseVersion(null)).toBeNull()
  })

  it('reads diff runs and refuses a malformed one', () => {
    expect(parseRuns([{ equal: 2 }, { insert: 'a' }, { delete: 'b' }])).toEqual([
      { equal: 2 },
      { insert: 'a' },
      { delete: 'b' },
    ])
    expect(parseRuns([{ equal: -1 }])).toBeNull()
    expect(parseRuns([{ retain: 1 }])).toBeNull()
    expect(parseRuns('runs')).toBeNull()
  })

  it('says what a version is, who wrote it and what changed since', () => {
    const v = parseVersion(VERSION)!
    expect(versionTitle(v)).toBe('Draft')
    expect(versionTitle({ ...v, kind: 'auto', name: null })).toBe('Automatic version')
    expect(versionTitle({ ...v, kind: 'restore', name: null, restoredFrom: 2 })).toBe(
      'Restored from version 2',
    )
    expect(versionAuthors(v)).toBe('Ada, Bob')
    expect(versionAuthors({ ...v, authors: ['A', 'B', 'C', 'D'] })).toBe('A, B and 2 others')
    expect(versionAuthors({ ...v, authors: [], by: null })).toBe('No new edits')
    expect(diffSummary(0, 0)).toBe('Same as the current text.')
    expect(diffSummary(1, 6)).toBe('Since this version: 6 characters removed, 1 character added.')
  })
})

describe('diff marks on a version', () => {
  it('marks deletions on the version and insertions at their place', () => {
    const runs = runsOf('the first draft', 'the draft, revised')
    const marks = diffMarks(runs, 'the first draft'.length)!
    expect(marks.deleted.map(({ from, to }) => 'the first draft'.slice(from, to)).join('')).toBe('first ')
    expect(marks.inserted.map((i) => i.text).join('')).toBe(', revised')
    expect(diffMarks(runs, 3)).toBeNull()
  })

  seededTest('the marks cover the version exactly and rebuild the current text (random texts)', (gen) => {
    const alphabet = ['a', 'b', ' ', '\n', 'é', '😀']
    const randomText = () =>
      Array.from({ length: prng.uint32(gen, 0, 40) }, () => prng.oneOf(gen, alphabet)).join('')
    for (let round = 0; round < 200; round++) {
      const version = randomText()
      const current = randomText()
      const marks = diffMarks(runsOf(version, current), version.length)
      expect(marks).not.toBeNull()
      // Current = the version without its deleted ranges, with the insertions at their places.
      let rebuilt = ''
      let at = 0
      const events = [
        ...marks!.deleted.map((d) => ({ at: d.from, end: d.to, text: '' })),
        ...marks!.inserted.map((i) => ({ at: i.at, end: i.at, text: i.text })),
      ].sort((a, b) => a.at - b.at || a.end - a.at - (b.end - b.at))
      for (const event of events) {
        rebuilt += version.slice(at, event.at) + event.text
        at = event.end
      }
      rebuilt += version.slice(at)
      expect(rebuilt).toBe(current)
    }
  })
})

describe('authorship answers and colours', () => {
  const answer = {
    changeId: 9,
    length: 7,
    spans: [
      { length: 3, author: 'user:a' },
      { length: 2, author: null },
      { length: 2, author: 'token:b' },
    ],
    authors: [
      { key: 'user:a', name: 'Ada', color: '#e5484d', chars: 3 },
      { key: 'token:b', name: 'Bob', color: null, chars: 2 },
    ],
  }

  it('reads spans and authors, and refuses spans that do not add up', () => {
    expect(parseAuthorship(answer)).toEqual(answer)
    expect(parseAuthorship({ ...answer, length: 8 })).toBeNull()
    expect(parseAuthorship({ ...answer, spans: [{ length: 7, author: 3 }] })).toBeNull()
    expect(parseAuthorship({ ...answer, authors: [{ name: 'no key' }] })).toBeNull()
  })

  it('uses presence colours, a stable one by key otherwise, and never one twice while any is free', () => {
    expect(presenceColor('#E5484D')).toBe('#e5484d')
    expect(presenceColor('#e5484dfe')).toBe('#e5484d')
    expect(presenceColor('red; position: fixed')).toBeNull()
    const colors = authorColors([
      { key: 'user:a', name: 'Ada', color: '#e5484d', chars: 3 },
      { key: 'user:c', name: 'Cy', color: '#e5484d', chars: 2 },
      { key: 'token:b', name: 'Bob', color: null, chars: 2 },
    ])
    expect(colors.get('user:a')).toBe('#e5484d')
    expect(new Set(colors.values()).size).toBe(3)
    expect(colors.get('token:b')).toBe(
      authorColors([{ key: 'token:b', name: 'Bob', color: null, chars: 1 }]).get('token:b'),
    )
    expect(PALETTE[keyIndex('token:b')]).toBe(
      authorColors([{ key: 'token:b', name: 'Bob', color: null, chars: 1 }]).get('token:b'),
    )
    const many = Array.from({ length: PALETTE.length }, (_, i) => ({
      key: `name:${i}`,
      name: `${i}`,
      color: null,
      chars: 1,
    }))
    expect(new Set(authorColors(many).values()).size).toBe(PALETTE.length)
  })
})

describe('room API calls', () => {
  it('send the token and the author (UTF-8 in a Latin-1 header), and throw refusals with their code', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = []
    const fetchImpl = (async (url: string, init: RequestInit) => {
      calls.push({ url, init })
      return new Response(JSON.stringify({ error: 'this link cannot edit', code: 'forbidden' }), {
        status: 403,
      })
    }) as typeof fetch
    const api = { room: 'room-1', token: 'jwt', author: () => 'Zoë', fetch: fetchImpl }
    const refused = await restoreVersion(api, 4, { from: 1, to: 3 }).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(RoomApiError)
    expect(refused).toMatchObject({ status: 403, code: 'forbidden', message: 'this link cannot edit' })
    expect(calls[0].url).toBe('/api/rooms/room-1/versions/4/restore')
    expect(calls[0].init.method).toBe('POST')
    expect(calls[0].init.body).toBe('{"from":1,"to":3}')
    const headers = calls[0].init.headers as Record<string, string>
    expect(headers.authorization).toBe('Bearer jwt')
    expect(headers['tandem-author']).toBe(utf8HeaderValue('Zoë'))
    expect(Buffer.from(headers['tandem-author'], 'latin1').toString('utf8')).toBe('Zoë')
  })

  it('says the server cannot be reached when the call fails', async () => {
    const api = {
      room: 'r',
      token: null,
      fetch: (async () => Promise.reject(new TypeError('down'))) as typeof fetch,
    }
    await expect(restoreVersion(api, 1)).rejects.toMatchObject({ status: 0, code: 'unreachable' })
  })
})

describe('the identity authorship credits', () => {
  it('publishes a stable per-browser id the server takes as user.id, kept across renames', () => {
    const items = new Map<string, string>()
    const storage = {
      getItem: (key: string) => items.get(key) ?? null,
      setItem: (key: string, value: string) => void items.set(key, value),
    } as Storage
    const first = loadIdentity(storage)
    expect(first.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    saveName('Ada', storage)
    expect(loadIdentity(storage)).toMatchObject({ id: first.id, name: 'Ada' })
    items.set('tandem:user-id', 'not an id!')
    expect(loadIdentity(storage).id).toMatch(/^[A-Za-z0-9_-]{22}$/)
  })
})
