/**
 * The always-visible status: connection state and whether the server has durably stored this
 * browser's changes. Both texts come from `watchConnection` and `SyncTracker`; nothing here guesses.
 */
import type { ConnectionSnapshot } from './connection-status.ts'
import type { SyncState } from './sync-status.ts'

const CONNECTION_LABELS = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
} as const

/** Text for the sync half of the status. */
export function syncLabel(state: SyncState): string {
  if (state.saved) return 'Saved'
  return state.pending === 1 ? '1 local change waiting' : `${state.pending} local changes waiting`
}

/** Renders into the status element's `[data-connection]`, `[data-sync]` and optional retry button. */
export function createStatusView(root: HTMLElement, onRetry: () => void) {
  const connection = root.querySelector<HTMLElement>('[data-connection]')!
  const connectionText = connection.querySelector<HTMLElement>('[data-label]')!
  const sync = root.querySelector<HTMLElement>('[data-sync]')!
  const retry = root.querySelector<HTMLButtonElement>('[data-retry]')!
  retry.addEventListener('click', onRetry)
  return {
    connection(snapshot: ConnectionSnapshot): void {
      connection.dataset.state = snapshot.state
      connectionText.textContent = CONNECTION_LABELS[snapshot.state]
      connection.title =
        snapshot.state === 'closed'
          ? `The server closed the connection (${snapshot.closeReason ?? 'no reason given'}).`
          : snapshot.state === 'offline'
            ? 'You are offline. Edits are kept in this browser and sent when you reconnect.'
            : ''
      retry.hidden = snapshot.state !== 'closed'
    },
    sync(state: SyncState): void {
      sync.dataset.saved = String(state.saved)
      sync.textContent = syncLabel(state)
      sync.title = state.saved
        ? 'The server has durably stored every change made in this browser.'
        : 'Changes made here that the server has not yet confirmed storing. They are kept in this browser.'
    },
  }
}
