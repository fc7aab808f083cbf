/**
 * Presence fields that reach other people's DOM (issue #19, class 5): the server refuses an
 * awareness state whose `user.color`, `user.colorLight` or `user.name` breaks the rules of
 * shared/protocol/presence.ts, closing its sender with invalidUpdate (4422) before anyone sees it,
 * while the states stock clients send (y-codemirror.next's documented `{name, color, colorLight}`,
 * Tandem's own) pass unchanged.
 */
import { describe, expect, it } from 'vitest'
import { CloseCode, presenceUserProblem } from '../shared/protocol/index.ts'
import { awarenessFrame } from './helpers/hostile.ts'
import { cleanupAfterEach, synced, tracked, waitFor } from './helpers/relay.ts'

const { start, client, raw } = tracked(cleanupAfterEach())
/** Generous bound on how long a refused message may take to close its sender (a guard, not a timing). */
const CLOSE_GUARD_MS = 10_000

const OVERLAY = 'red; position:fixed; inset:0; z-index:9999; background:#fff url(/fake-login.png)'

/** States a hostile peer sends, each with `user` fields that would reach the DOM. */
const HOSTILE_STATES: Array<[string, unknown]> = [
  ['a colour that carries more CSS', { user: { name: 'Mallory', color: OVERLAY } }],
  [
    'a colorLight that carries more CSS',
    { user: { name: 'Mallory', color: '#30bced', colorLight: OVERLAY } },
  ],
  ['a named colour', { user: { name: 'Mallory', color: 'red' } }],
  ['a hex colour with 5 digits', { user: { name: 'Mallory', color: '#12345' } }],
  ['a colour that is a number', { user: { name: 'Mallory', color: 0xff0000 } }],
  ['a name of 65 characters', { user: { name: 'n'.repeat(65), color: '#30bced' } }],
  ['a name with a control character', { user: { name: 'Mall\u0000ory', color: '#30bced' } }],
  ['a name with a right-to-left override', { user: { name: 'Mall\u202eyro', color: '#30bced' } }],
  ['a name that is an object', { user: { name: { toString: 'x' }, color: '#30bced' } }],
  ['a user that is a string', { user: 'Mallory' }],
  ['a user that is an array', { user: ['Mallory', '#30bced'] }],
]

/** States real clients send; each must reach the other peers exactly as sent. */
const STOCK_STATES: Array<[string, Record<string, unknown>]> = [
  // The y-codemirror.next README's example.
  ['y-codemirror.next', { user: { name: 'Anonymous 42', color: '#30bced', colorLight: '#30bced33' } }],
  // Tandem's client after two renames (alpha stepped so peers redraw the label).
  ['Tandem', { user: { name: 'Swift Otter', color: '#e5484dfd', colorLight: '#e5484d33' } }],
  ['short hex and unknown fields', { user: { name: 'Ada', color: '#F0a', avatar: 'x.png', id: 7 }, x: 1 }],
  ['a name of 64 characters with emoji', { user: { name: `${'n'.repeat(62)}😀`, color: '#abcd' } }],
  ['no user', { cursor: null }],
  ['a null user', { user: null }],
]

describe('presence fields other people render', () => {
  it.each(HOSTILE_STATES)('closes the sender of %s with 4422; nobody sees it', async (_what, state) => {
    const server = await start()
    const room = 'hostile-presence'
    const observer = client(server.url, room)
    await synced(observer)
    const attacker = raw(server.url, room)
    await attacker.opened
    await attacker.send(awarenessFrame([{ clientID: 6_660_001, clock: 1, json: JSON.stringify(state) }]))
    expect(await attacker.closedWithin(CLOSE_GUARD_MS)).toBe(CloseCode.invalidUpdate)
    expect(attacker.closeReason).toMatch(/client 6660001: user/)
    // Frames from one server reach the observer in order: once a later peer's state has arrived,
    // a relay of the refused one would have too.
    const marker = raw(server.url, room)
    await marker.opened
    await marker.send(awarenessFrame([{ clientID: 6_660_002, clock: 1, json: '{"user":{"name":"ok"}}' }]))
    const states = observer.provider.awareness.getStates()
    await waitFor(() => states.has(6_660_002), "the observer to see the later peer's state")
    expect(states.has(6_660_001)).toBe(false)
    expect(marker.closeCode).toBeNull()
    // A joiner after the attack gets no trace of it either.
    const late = client(server.url, room)
    await synced(late)
    await waitFor(() => late.provider.awareness.getStates().has(6_660_002), 'the late joiner to see presence')
    expect(late.provider.awareness.getStates().has(6_660_001)).toBe(false)
  })

  it.each(STOCK_STATES)('relays the state %s sends unchanged', async (_what, state) => {
    const server = await start()
    const room = 'stock-presence'
    const sender = client(server.url, room)
    const observer = client(server.url, room)
    await Promise.all([synced(sender), synced(observer)])
    const closes: number[] = []
    sender.provider.on('connection-close', (event) => {
      if (event) closes.push(event.code)
    })
    sender.provider.awareness.setLocalState(state)
    const id = sender.doc.clientID
    await waitFor(() => observer.provider.awareness.getStates().has(id), 'the observer to see the state')
    expect(observer.provider.awareness.getStates().get(id)).toEqual(state)
    expect(closes).toEqual([])
  })

  it('checks only the user field, and only the fields that are rendered', () => {
    expect(presenceUserProblem(null)).toBeNull()
    expect(presenceUserProblem('text')).toBeNull()
    expect(presenceUserProblem([{ user: 'x' }])).toBeNull()
    expect(presenceUserProblem({ user: { title: OVERLAY } })).toBeNull()
    expect(presenceUserProblem({ user: { color: '#30bced ' } })).toMatch(/user\.color/)
    expect(presenceUserProblem({ user: { name: '\u2066x' } })).toMatch(/user\.name/)
  })
})
