/**
 * The editor header's History button: loads the History panel (history-panel.ts, its own chunk) on
 * the first click, then opens and closes it. Kept apart so the editor's shell carries only this.
 */
import type { RoomApi } from '../room-api.ts'
import type { HistoryPanel, HistoryPanelOptions } from './history-panel.ts'

/** Wires `button`; returns what tells an open panel that access changed. */
export function mountHistoryButton(
  button: HTMLButtonElement,
  options: Omit<HistoryPanelOptions, 'button' | 'api'> & { api: RoomApi },
): { refreshAccess: () => void } {
  let panel: Promise<HistoryPanel> | null = null
  button.setAttribute('aria-expanded', 'false')
  button.addEventListener('click', () => {
    panel ??= import('./history-panel.ts').then(({ mountHistoryPanel }) =>
      mountHistoryPanel({ ...options, button }),
    )
    panel.then(
      (loaded) => loaded.toggle(),
      (error: unknown) => {
        // Offline before the panel was ever loaded: the next click tries again.
        panel = null
        button.title = 'History needs a connection to the server.'
        console.warn('tandem: the history panel could not be loaded', error)
      },
    )
  })
  return { refreshAccess: () => panel?.then((loaded) => loaded.refreshAccess()) }
}
