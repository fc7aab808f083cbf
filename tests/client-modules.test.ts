/**
 * The browser client's small pure modules: room ids and routes, document titles, identity colours,
 * the observable state behind the status modules.
 */
import { describe, expect, it } from 'vitest'
import { documentTitle, UNTITLED } from '../client/src/document-title.ts'
import { caretColor, cleanName, loadIdentity, PALETTE, saveName } from '../client/src/identity.ts'
import { ObservableState } from '../client/src/observable-state.ts'
import { newRoomId, relayUrl, roomUrl, routeFor } from '../client/src/room-url.ts'
import { syncLabel } from '../client/src/status-view.ts'
import { isValidRoomName } from '../shared/protocol/index.ts'

class MemoryStorage implements Storage {
  #items = new Map<string, string>()
  get length() {
    return this.#items.size
  }
  clear = () => this.#items.clear()
  getItem = (key: string) => this.#items.get(key) ?? null
  key = (index: number) => [...this.#items.keys()][index] ?? null
  removeItem = (key: string) => void this.#items.delete(key)
  setItem = (key: string, value: string) => void this.#items.set(key, value)
}

describe('room urls', () => {
  it('makes unguessable, URL-safe, valid room ids (128 bits)', () => {
    const ids = new Set(Array.from({ length: 200 }, newRoomId))
    expect(ids.size).toBe(200)
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
      expect(isValidRoomName(id)).toBe(true)
    }
  })

  it('routes / to a new room, /r/<id> to that room, anything else to invalid', () => {
    expect(routeFor('/')).toEqual({ kind: 'new' })
    expect(routeFor('/r/abc-DEF_1')).toEqual({ kind: 'room', id: 'abc-DEF_1' })
    expect(routeFor('/r/abc/')).toEqual({ kind: 'room', id: 'abc' })
    expect(routeFor('/r/..')).toEqual({ kind: 'invalid', id: '..' })
    expect(routeFor('/r/a%20b')).toEqual({ kind: 'invalid', id: 'a%20b' })
    expect(routeFor('/elsewhere')).toEqual({ kind: 'invalid', id: '/elsewhere' })
  })

  it('builds share and relay urls', () => {
    expect(roomUrl('https://tandem.example', 'x1')).toBe('https://tandem.example/r/x1')
    expect(relayUrl({ protocol: 'https:', host: 'tandem.example' })).toBe('wss://tandem.example')
    expect(relayUrl({ protocol: 'http:', host: '127.0.0.1:1234' })).toBe('ws://127.0.0.1:1234')
  })
})

describe('document titles', () => {
  it('use the first non-empty line without Markdown marks', () => {
    expect(documentTitle('')).toBe(UNTITLED)
    expect(documentTitle('\n  \n')).toBe(UNTITLED)
    expect(documentTitle('\n## *Trip* plan\nbody')).toBe('Trip plan')
    expect(documentTitle('#\n')).toBe('#')
    expect(documentTitle('x'.repeat(100))).toHaveLength(60)
  })
})

describe('identity', () => {
  it('is created once and remembered; renames are cleaned and kept', () => {
    const storage = new MemoryStorage()
    const first = loadIdentity(storage)
    expect(PALETTE).toContain(first.color)
    expect(loadIdentity(storage)).toEqual(first)
    expect(saveName('  Ada   Lovelace ', storage)).toBe('Ada Lovelace')
    expect(saveName('   ', storage)).toBeNull()
    expect(loadIdentity(storage)).toEqual({ ...first, name: 'Ada Lovelace' })
    expect(cleanName('x'.repeat(80))).toHaveLength(40)
  })

  it('changes the caret colour string on every rename without changing the colour', () => {
    expect(caretColor('#e5484d', 0)).toBe('#e5484d')
    const seen = Array.from({ length: 16 }, (_, i) => caretColor('#e5484d', i + 1))
    for (const [i, color] of seen.entries()) {
      expect(color).toMatch(/^#e5484df[0-9a-f]$/)
      if (i > 0) expect(color).not.toBe(seen[i - 1])
    }
  })
})

describe('status text', () => {
  it('says Saved or how many local changes wait', () => {
    expect(syncLabel({ pending: 0, saved: true, heardFromServer: true })).toBe('Saved')
    expect(syncLabel({ pending: 1, saved: false, heardFromServer: false })).toBe('1 local change waiting')
    expect(syncLabel({ pending: 3, saved: false, heardFromServer: true })).toBe('3 local changes waiting')
  })
})

describe('observable state', () => {
  it('tells listeners each change, in subscription order, until they unsubscribe', () => {
    const state = new ObservableState('a')
    const heard: string[] = []
    const stopFirst = state.subscribe((value) => heard.push(`1:${value}`))
    state.subscribe((value) => heard.push(`2:${value}`))
    expect(heard).toEqual([])
    expect(state.set('a')).toBe(false)
    expect(state.set('b')).toBe(true)
    stopFirst()
    state.set('c')
    expect(heard).toEqual(['1:b', '2:b', '2:c'])
    expect(state.value).toBe('c')
  })

  it('counts as a change only what `equals` says differs', () => {
    const state = new ObservableState({ n: 1, seen: 0 }, (a, b) => a.n === b.n)
    const heard: number[] = []
    state.subscribe(({ n }) => heard.push(n))
    state.set({ n: 1, seen: 1 })
    state.set({ n: 2, seen: 2 })
    expect(heard).toEqual([2])
    expect(state.value).toEqual({ n: 2, seen: 2 })
  })
})
