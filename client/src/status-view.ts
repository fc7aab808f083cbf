/**
 * The always-visible status: connection state, whether the server has durably stored this browser's
 * changes, and a warning banner while the server says it cannot store changes at all. The texts come
 * from `watchConnection`, `SyncTracker` and `watchServerStorage`; nothing here guesses.
 */
import type { ConnectionSnapshot } from './connection-status.ts'
import type { ServerStorageState } from './storage-status.ts'
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

/** The storage warning, split into its lead and detail, or null when there is nothing to warn about. */
export function storageWarning(state: ServerStorageState): { lead: string; detail: string } | null {
  if (state !== 'failing') return null
  return {
    lead: 'Not saving:',
    detail:
      'the server cannot store changes right now. Your edits are kept in this browser and will be ' +
      'saved when it recovers; until then, others will not see them.',
  }
}

/**
 * Renders into the status element's `[data-connection]`, `[data-sync]` and retry button, and into
 * `warning`, a banner shown only while the server's storage is failing (its `data-storage` attribute
 * holds the state).
 */
export function createStatusView(root: HTMLElement, warning: HTMLElement, onRetry: () => void) {
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
      retry.hidden = snapshot.state !== 'closed' || !snapshot.retryable
    },
    sync(state: SyncState): void {
      sync.dataset.saved = String(state.saved)
      sync.textContent = syncLabel(state)
      sync.title = state.saved
        ? 'The server has durably stored every change made in this browser.'
        : 'Changes made here that the server has not yet confirmed storing. They are kept in this browser.'
    },
    storage(state: ServerStorageState): void {
      warning.dataset.storage = state
      const text = storageWarning(state)
      warning.hidden = text === null
      // Filled only while shown, so that screen readers announce the alert each time it appears.
      if (text === null) {
        warning.replaceChildren()
      } else {
        const lead = document.createElement('strong')
        lead.textContent = text.lead
        const message = document.createElement('span')
        message.append(lead, ` ${text.detail}`)
        warning.replaceChildren(message)
      }
    },
  }
}
