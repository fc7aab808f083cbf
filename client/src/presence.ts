/**
 * The list of people in the room, from awareness: a colour swatch and name per person, this user
 * first and marked "you", with their name editable in place (remembered by `identity.ts`).
 */
import type { Awareness } from 'y-protocols/awareness'
import { isPresenceColor, isPresenceName } from '../../shared/protocol/index.ts'
import { cleanName, type Identity } from './identity.ts'
import { FALLBACK_COLOR } from './presence-states.ts'

interface PresenceOptions {
  /** Called with a cleaned, non-empty name when the user renames themselves. */
  onRename: (name: string) => void
}

/** Keeps `list` in sync with `awareness`; returns a function that stops it. */
export function mountPresence(
  list: HTMLElement,
  awareness: Awareness,
  { onRename }: PresenceOptions,
): () => void {
  const me = document.createElement('li')
  me.className = 'person me'
  const mySwatch = swatch()
  const nameInput = document.createElement('input')
  nameInput.className = 'name-input'
  nameInput.setAttribute('aria-label', 'Your name')
  nameInput.maxLength = 40
  nameInput.spellcheck = false
  const you = document.createElement('span')
  you.className = 'you'
  you.textContent = 'you'
  me.append(mySwatch, nameInput, you)

  const commit = () => {
    const name = cleanName(nameInput.value)
    if (name) onRename(name)
    else render()
  }
  nameInput.addEventListener('change', commit)
  nameInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') nameInput.blur()
    if (event.key === 'Escape') {
      nameInput.value = userOf(awareness.getLocalState())?.name ?? ''
      nameInput.blur()
    }
  })

  const render = () => {
    const mine = userOf(awareness.getLocalState())
    if (mine) {
      mySwatch.style.backgroundColor = mine.color
      if (document.activeElement !== nameInput) nameInput.value = mine.name
    }
    const others: HTMLElement[] = []
    const states = [...awareness.getStates()].filter(([id]) => id !== awareness.clientID)
    states.sort(([a], [b]) => a - b)
    for (const [clientId, state] of states) {
      const user = userOf(state)
      if (!user) continue
      const item = document.createElement('li')
      item.className = 'person'
      item.dataset.client = String(clientId)
      const name = document.createElement('span')
      name.className = 'name'
      name.textContent = user.name
      name.title = user.name
      const dot = swatch()
      dot.style.backgroundColor = user.color
      item.append(dot, name)
      others.push(item)
    }
    list.replaceChildren(me, ...others)
    list.dataset.count = String(others.length + 1)
  }

  awareness.on('change', render)
  render()
  return () => awareness.off('change', render)
}

function swatch(): HTMLElement {
  const dot = document.createElement('span')
  dot.className = 'swatch'
  dot.setAttribute('aria-hidden', 'true')
  return dot
}

/**
 * The `user` field of an awareness state, if it is well-formed (peers may send anything; the
 * states are guarded already, see presence-states.ts, and are checked again here before the DOM).
 */
function userOf(state: Record<string, unknown> | null): Identity | null {
  const user = state?.user as Partial<Identity> | undefined
  if (!user || typeof user.name !== 'string' || typeof user.color !== 'string') return null
  const color = isPresenceColor(user.color) ? user.color : FALLBACK_COLOR
  const name = isPresenceName(user.name) ? user.name.slice(0, 40) : ''
  return { name: name || 'Anonymous', color, colorLight: `${color}33` }
}
