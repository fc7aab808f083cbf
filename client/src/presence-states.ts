/**
 * Remote presence made safe to render. y-protocols writes every state it receives straight into
 * `awareness.states`, and y-codemirror.next reads `user.color` from there into a style attribute
 * (`background-color: ${color}`): a colour like `red; position:fixed; inset:0` would lay a peer's
 * own content over the editor. The server refuses such states (shared/protocol/presence.ts); this
 * replaces them once more as they are stored, so nothing that reads the awareness ever sees one.
 */
import type { Awareness } from 'y-protocols/awareness'
import {
  isPresenceColor,
  isPresenceName,
  MAX_PRESENCE_NAME_LENGTH,
  presenceUserProblem,
  stripNameControls,
} from '../../shared/protocol/index.ts'

/** The colour shown for a peer whose colour is unfit for a style attribute. */
export const FALLBACK_COLOR = '#888888'

type State = Record<string, unknown>

/**
 * `state` itself when its `user` field follows shared/protocol/presence.ts, otherwise a copy whose
 * user has every unfit field replaced: a grey colour, a name without control characters, cut short.
 */
export function safePresenceState(state: State): State {
  if (presenceUserProblem(state) === null) return state
  const user: State =
    typeof state.user === 'object' && state.user !== null && !Array.isArray(state.user)
      ? (state.user as State)
      : {}
  const color = isPresenceColor(user.color) ? user.color : FALLBACK_COLOR
  // y-codemirror.next's own default for a missing colorLight: the colour at 20% alpha.
  const light = color.length === 7 ? `${color}33` : `${FALLBACK_COLOR}33`
  const colorLight = isPresenceColor(user.colorLight) ? user.colorLight : light
  const name = isPresenceName(user.name)
    ? user.name
    : stripNameControls(typeof user.name === 'string' ? user.name : '').slice(0, MAX_PRESENCE_NAME_LENGTH)
  return { ...state, user: { ...user, name: name || 'Anonymous', color, colorLight } }
}

/** The awareness states map, storing every state through safePresenceState. */
class PresenceStates extends Map<number, State> {
  override set(clientID: number, state: State): this {
    return super.set(clientID, safePresenceState(state))
  }
}

/**
 * Makes `awareness` keep only safe states (safePresenceState), those it holds now and every one
 * stored later. Call it before anything renders the awareness; calling it again does nothing.
 */
export function guardPresence(awareness: Awareness): void {
  if (awareness.states instanceof PresenceStates) return
  awareness.states = new PresenceStates(awareness.states)
}
