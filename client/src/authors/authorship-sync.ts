/**
 * Keeps the editor's authorship colours current while the Authors toggle is on: fetches who wrote
 * what, and again `debounceMs` after the text stops changing, so the colours follow live edits.
 * Loaded when the toggle is first turned on (authors-toggle.ts), with authorship-view.ts.
 *
 * An answer describes the server's text, which may lag or lead this editor's. It is laid on the text
 * as it was when the request went out (mapped through the changes made since) when its length says
 * it is that text; otherwise the colours already shown stay, mapped, and it is asked again shortly.
 */
import { ChangeSet, type Extension, type Text } from '@codemirror/state'
import type { EditorView } from '@codemirror/view'
import type { RoomApi } from '../room-api.ts'
import { fetchAuthorship } from './authors-api.ts'
import { authorshipExtension, authorshipShown, showAuthorship } from './authorship-view.ts'

export interface AuthorshipSyncOptions {
  /** Quiet time after a change before fetching again. */
  debounceMs?: number
  /** Pause before asking again when an answer did not fit the text (times the misfits in a row). */
  retryMs?: number
}

export const DEFAULT_DEBOUNCE_MS = 500
export const DEFAULT_RETRY_MS = 1000
/** Answers in a row that may not fit before it waits for the next change to ask again. */
const MAX_MISFITS = 8

/**
 * The extension that shows `view`'s authorship (put it in the editor, then call `start`), and `stop`,
 * which ends the fetching (take the extension out too).
 */
export function followAuthorship(
  view: EditorView,
  api: RoomApi,
  options: AuthorshipSyncOptions = {},
): { extension: Extension; start: () => void; stop: () => void } {
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS
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
    if (!on) return
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

  return {
    extension: authorshipExtension(onDocChange),
    start: () => {
      on = true
      refresh()
    },
    stop: () => {
      on = false
      clearTimeout(timer)
      inFlight = null
      again = false
    },
  }
}
