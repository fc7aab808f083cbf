/**
 * The "Authors" toggle in the editor's header: on, the text is coloured by who wrote it, with a
 * legend, following live edits (authorship-sync.ts and authorship-view.ts, loaded when it is first
 * turned on, so the editor's shell carries only this); off by default, and remembered per browser.
 */
import { Compartment, StateEffect } from '@codemirror/state'
import type { EditorView } from '@codemirror/view'
import type { RoomApi } from '../room-api.ts'
import type { AuthorshipSyncOptions } from './authorship-sync.ts'

const STORAGE_KEY = 'tandem:authors'

export interface AuthorsToggleOptions extends AuthorshipSyncOptions {
  button: HTMLButtonElement
  view: EditorView
  api: RoomApi
  storage: Storage | null
}

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
  const { button, view } = options
  const compartment = new Compartment()
  let installed = false
  let on = false
  /** Bumped on each switch, so a load that finishes after the toggle moved on is dropped. */
  let generation = 0
  let stopSync: (() => void) | null = null

  const configure = (extension: Parameters<typeof compartment.of>[0]) => {
    if (installed) view.dispatch({ effects: compartment.reconfigure(extension) })
    else {
      installed = true
      view.dispatch({ effects: StateEffect.appendConfig.of(compartment.of(extension)) })
    }
  }

  const set = (next: boolean) => {
    on = next
    const current = ++generation
    button.setAttribute('aria-pressed', String(on))
    stopSync?.()
    stopSync = null
    if (!on) {
      if (installed) configure([])
      return
    }
    button.setAttribute('aria-busy', 'true')
    import('./authorship-sync.ts')
      .then(({ followAuthorship }) => {
        if (current !== generation) return
        const sync = followAuthorship(view, options.api, options)
        configure(sync.extension)
        stopSync = sync.stop
        sync.start()
      })
      .catch((error: unknown) => {
        // Offline before it was ever loaded: the toggle goes back off; the next click tries again.
        if (current !== generation) return
        console.warn('tandem: the Authors view could not be loaded', error)
        on = false
        button.setAttribute('aria-pressed', 'false')
        button.title = 'Authors needs a connection to the server.'
      })
      .finally(() => {
        if (current === generation) button.removeAttribute('aria-busy')
      })
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
