/**
 * The client's guard on remote presence (client/src/presence-states.ts): states stored in a guarded
 * awareness never carry a colour or name unfit for the DOM, whoever stored them; fit states are
 * kept as they are. And a name typed here is one the server accepts.
 */
import { describe, expect, it } from 'vitest'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'
import { cleanName } from '../client/src/identity.ts'
import { FALLBACK_COLOR, guardPresence, safePresenceState } from '../client/src/presence-states.ts'
import { isPresenceName, presenceUserProblem } from '../shared/protocol/index.ts'

const OVERLAY = 'red; position:fixed; inset:0; z-index:9999'

/** An awareness update from client `id` at `clock` with `state`, as a remote peer's provider sends it. */
function remoteUpdate(id: number, clock: number, state: unknown): Uint8Array {
  const peer = new awarenessProtocol.Awareness(new Y.Doc())
  peer.states.set(id, state as Record<string, unknown>)
  peer.meta.set(id, { clock, lastUpdated: Date.now() })
  return awarenessProtocol.encodeAwarenessUpdate(peer, [id])
}

describe('guarded awareness', () => {
  it('stores a remote state with a hostile colour, colorLight or name with safe ones', () => {
    const awareness = new awarenessProtocol.Awareness(new Y.Doc())
    guardPresence(awareness)
    const hostile = { user: { name: 'Mal\u202elory', color: OVERLAY, colorLight: OVERLAY, id: 3 }, cursor: 1 }
    awarenessProtocol.applyAwarenessUpdate(awareness, remoteUpdate(42, 1, hostile), 'relay')
    expect(awareness.getStates().get(42)).toEqual({
      user: { name: 'Mallory', color: FALLBACK_COLOR, colorLight: `${FALLBACK_COLOR}33`, id: 3 },
      cursor: 1,
    })
    awarenessProtocol.applyAwarenessUpdate(awareness, remoteUpdate(42, 2, { user: 'x' }), 'relay')
    expect(awareness.getStates().get(42)?.user).toEqual({
      name: 'Anonymous',
      color: FALLBACK_COLOR,
      colorLight: `${FALLBACK_COLOR}33`,
    })
    for (const state of awareness.getStates().values()) expect(presenceUserProblem(state)).toBeNull()
    awareness.destroy()
  })

  it('guards the states held before it and keeps fit states as they are; a second call does nothing', () => {
    const awareness = new awarenessProtocol.Awareness(new Y.Doc())
    const fit = { user: { name: 'Ada', color: '#30bced', colorLight: '#30bced33' } }
    awarenessProtocol.applyAwarenessUpdate(awareness, remoteUpdate(7, 1, fit), 'relay')
    awarenessProtocol.applyAwarenessUpdate(
      awareness,
      remoteUpdate(8, 1, { user: { name: 'Bo', color: '#e5484d', colorLight: OVERLAY } }),
      'relay',
    )
    guardPresence(awareness)
    const states = awareness.states
    guardPresence(awareness)
    expect(awareness.states).toBe(states)
    expect(awareness.getStates().get(7)).toEqual(fit)
    expect(awareness.getStates().get(8)?.user).toEqual({
      name: 'Bo',
      color: '#e5484d',
      colorLight: '#e5484d33',
    })
    awareness.setLocalStateField('user', { name: 'Me', color: '#e5484dfe', colorLight: '#e5484d33' })
    expect(awareness.getLocalState()?.user).toEqual({
      name: 'Me',
      color: '#e5484dfe',
      colorLight: '#e5484d33',
    })
    awareness.destroy()
  })

  it('returns a fit state itself', () => {
    const state = { user: { name: 'Ada', color: '#abc' }, cursor: null }
    expect(safePresenceState(state)).toBe(state)
  })

  it('cleans a typed name into one the server accepts', () => {
    expect(cleanName('  Ada\u0000\u202e \t Lovelace\u0007 ')).toBe('Ada Lovelace')
    expect(isPresenceName(cleanName(`\u2066${'x'.repeat(100)}`))).toBe(true)
  })
})
