/**
 * What the live page shows, drawn into live.html's shell: the text (one DOM Text node, edited in
 * place by each change's delta, so a long document is not redrawn per keystroke), the people in the
 * room, the feed's status and the last change's time and author.
 */
import type { LastChange, Person } from './live-document.ts'
import type { FeedStatus } from './live-feed.ts'
import { applyDeltaTo, type TextDelta } from './text-delta.ts'

const STATUS_LABELS: Record<FeedStatus, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
}

const STATUS_TITLES: Record<FeedStatus, string> = {
  connecting: 'Opening the live feed.',
  live: 'Changes appear here as they are made.',
  reconnecting: 'The feed dropped; reconnecting. Changes made meanwhile will appear, none lost.',
  offline: 'You are offline. The document catches up when the network is back.',
  closed: 'The server refused this link.',
}

/** The text in `pre`, as one Text node. */
export function mountText(pre: HTMLElement) {
  const node = document.createTextNode('')
  pre.replaceChildren(node)
  return {
    reset(text: string): void {
      node.data = text
    },
    /** Applies a delta that fits the text shown (LiveDocument checked it on the same text). */
    apply(delta: TextDelta): void {
      applyDeltaTo(node, delta)
    },
    text: (): string => node.data,
  }
}

/** Renders `status` into the `[data-connection]` element (its dot and label). */
export function showStatus(connection: HTMLElement, status: FeedStatus): void {
  connection.dataset.state = status
  connection.title = STATUS_TITLES[status]
  const label = connection.querySelector<HTMLElement>('[data-label]')
  if (label) label.textContent = STATUS_LABELS[status]
}

/** Renders the people in the room into `list` (names and colours were checked by LiveDocument). */
export function showPeople(list: HTMLElement, people: readonly Person[]): void {
  const items = people.map((person) => {
    const item = document.createElement('li')
    item.className = 'person'
    const dot = document.createElement('span')
    dot.className = 'swatch'
    dot.setAttribute('aria-hidden', 'true')
    dot.style.backgroundColor = person.color
    const name = document.createElement('span')
    name.className = 'name'
    name.textContent = person.name
    name.title = person.name
    item.append(dot, name)
    return item
  })
  if (items.length === 0) {
    const nobody = document.createElement('li')
    nobody.className = 'person nobody'
    nobody.textContent = 'Nobody is editing'
    items.push(nobody)
  }
  list.replaceChildren(...items)
  list.dataset.count = String(people.length)
}

/** The last change in words: "Changed 14:03:12 by Ada", or "" before any. */
export function lastChangeText(change: LastChange | null, locale?: string): string {
  if (!change || change.at === null) return ''
  const time = new Date(change.at).toLocaleTimeString(locale)
  return change.author ? `Changed ${time} by ${change.author}` : `Changed ${time}`
}
