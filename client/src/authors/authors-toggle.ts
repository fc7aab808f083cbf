/**
 * The "Authors" toggle in the editor's header: on, the text is coloured by who wrote it, with a
 * legend (authorship-view.ts); off by default, and remembered per browser. While on, the authorship
 * is fetched again `debounceMs` after the text stops changing, so it follows live edits.
 *
 * An answer describes the server's text, which may lag or lead this editor's. It is laid on the text
 * as it was when the request went out (mapped through the changes made since) when its length says
 * it is that text; otherwise the colours already shown stay, mapped, and it is asked again shortly.
 */
import { ChangeSet, Compartment, StateEffect, type Text } from '@codemirror/state'
import type { EditorView } from '@codemirror/view'
import type { RoomApi } from '../room-api.ts'
import { fetchAuthorship } from './authors-api.ts'
import { authorshipExtension, authorshipShown, showAuthorship } from './authorship-view.ts'

const STORAGE_KEY = 'tandem:authors'

export interface AuthorsToggleOptions {
  button: HTMLButtonElement
  view: EditorView
  api: RoomApi
  storage: Storage | null
  /** Quiet time after a change before fetching again. */
  debounceMs?: number
  /** Pause before asking again when an answer did not fit the text. */
  retryMs?: number
}

export const DEFAULT_DEBOUNCE_MS = 500
export const DEFAULT_RETRY_MS = 1000
/** Answers in a row that may not fit before it waits for the next change to ask again. */
const MAX_MISFITS = 8

/** Whether this browser last left the toggle on. */
export function rememberedOn(storage: Storage | null): boolean {
  try {
    return storage?.getItem(STORAGE_KEY) === 'on'
  } catch {
    return false
  }
}

function remember(storage: Storage | null, on: boolean): void {
  try {
    storage?.setItem(STORAGE_KEY, on ? 'on' : 'off')
  } catch {
    // Not remembered: it still works for this page.
  }
}

/** Wires the toggle; returns what turns it off and unwires it. */
export function mountAuthorsToggle(options: AuthorsToggleOptions): { stop: () => void } {
  const { button, view, api } = options
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS
  const compartment = new Compartment()
  let installed = false
  let on = false
  let timer: ReturnType<typeof setTimeout> | undefined
  /** The request in flight: the text it was made at and the changes made since. */
  let inFlight: { doc: Text; since: ChangeSet } | null = null
  let again = false
  /** Answers in a row that did not fit the text: each waits longer before asking again. */
  let misfits = 0

  const schedule = (delay: number) => {
    clearTimeout(timer)
    timer = setTimeout(refresh, delay)
  }

  const onDocChange = (changes: ChangeSet) => {
    if (inFlight) inFlight.since = inFlight.since.compose(changes)
    misfits = 0
    schedule(debounceMs)
  }

  async function refresh(): Promise<void> {
    if (!on) return
    if (inFlight) {
      again = true
      return
    }
    const request = { doc: view.state.doc, since: ChangeSet.empty(view.state.doc.length) }
    inFlight = request
    try {
      const authorship = await fetchAuthorship(api)
      if (!on || inFlight !== request) return
      if (authorship.length === request.doc.length) {
        misfits = 0
        view.dispatch({ effects: showAuthorship.of(authorshipShown(authorship, request.since)) })
      } else {
        // The server's text and this one differ for now (edits on their way one way or the other).
        misfits++
        again = misfits <= MAX_MISFITS
      }
    } catch (error) {
      if (!on || inFlight !== request) return
      const reason = error instanceof Error ? error.message : String(error)
      view.dispatch({ effects: showAuthorship.of({ note: `Who wrote what could not be loaded: ${reason}` }) })
    } finally {
      if (inFlight === request) inFlight = null
    }
    if (again && on) {
      again = false
      schedule(retryMs * Math.max(1, misfits))
    }
  }

  const set = (next: boolean) => {
    on = next
    button.setAttribute('aria-pressed', String(on))
    button.dataset.on = String(on)
    const extension = on ? authorshipExtension(onDocChange) : []
    if (!installed) {
      installed = true
      view.dispatch({ effects: StateEffect.appendConfig.of(compartment.of(extension)) })
    } else view.dispatch({ effects: compartment.reconfigure(extension) })
    clearTimeout(timer)
    inFlight = null
    again = false
    if (on) refresh()
  }

  const onClick = () => {
    set(!on)
    remember(options.storage, on)
  }
  button.addEventListener('click', onClick)
  button.setAttribute('aria-pressed', 'false')
  if (rememberedOn(options.storage)) set(true)

  return {
    stop: () => {
      button.removeEventListener('click', onClick)
      if (on) set(false)
    },
  }
}
