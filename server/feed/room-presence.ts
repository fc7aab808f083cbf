/**
 * Who is in a room, for the feed's `presence` events: read from the room's awareness states (the
 * `user: {name, color}` field the editor sets), one person per state with a name, in the order the
 * states came. An event goes out when that list changes (someone joins, leaves, renames), never
 * for a cursor move or a renewal; it names who joined and who left since the previous list (as
 * multisets of names: two people may share one). The event is encoded once per change, and the
 * snapshot a new subscriber gets once per list.
 *
 * Awareness states are what peers sent (admission refuses a `user` field that breaks
 * shared/protocol/presence.ts): a state is listed only with a presence name, its color only when it
 * is a presence color.
 */
import type { Awareness } from 'y-protocols/awareness'
import { isPresenceColor, isPresenceName } from '../../shared/protocol/index.ts'
import { type Person, presenceEvent } from './feed-events.ts'

/** The person an awareness state shows, or null when it names nobody. */
function personOf(state: Record<string, unknown>): Person | null {
  const user = state.user
  if (typeof user !== 'object' || user === null) return null
  const { name, color } = user as Record<string, unknown>
  if (!isPresenceName(name) || name === '') return null
  return { name, color: isPresenceColor(color) ? color : null }
}

/** `from` minus `other`, as multisets. */
function without(from: readonly string[], other: readonly string[]): string[] {
  const left = new Map<string, number>()
  for (const name of other) left.set(name, (left.get(name) ?? 0) + 1)
  return from.filter((name) => {
    const count = left.get(name) ?? 0
    if (count === 0) return true
    left.set(name, count - 1)
    return false
  })
}

export class RoomPresence {
  private people: Person[]
  private key: string
  private snapshotEvent: string | null = null

  /** Reads `awareness` now and calls `changed` with each presence event from then on, until `stop`. */
  constructor(
    private readonly awareness: Awareness,
    private readonly changed: (event: string) => void,
  ) {
    this.people = this.read()
    this.key = JSON.stringify(this.people)
    awareness.on('change', this.onChange)
  }

  /** The event a new subscriber starts with: everyone in the room, nobody joined or left. */
  snapshot(): string {
    this.snapshotEvent ??= presenceEvent(this.people, [], [])
    return this.snapshotEvent
  }

  stop(): void {
    this.awareness.off('change', this.onChange)
  }

  private read(): Person[] {
    const people: Person[] = []
    for (const state of this.awareness.getStates().values()) {
      const person = personOf(state)
      if (person) people.push(person)
    }
    return people
  }

  private readonly onChange = (): void => {
    const people = this.read()
    const key = JSON.stringify(people)
    if (key === this.key) return
    const names = people.map((person) => person.name)
    const before = this.people.map((person) => person.name)
    this.people = people
    this.key = key
    this.snapshotEvent = null
    this.changed(presenceEvent(people, without(names, before), without(before, names)))
  }
}
