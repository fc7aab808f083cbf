/**
 * Whether the relay can currently save changes, as its `storage` messages (Tandem's opt-in extension)
 * say: `failing` from the moment its store writes fail until they succeed again, when it keeps the
 * changes in memory, retries, and relays nothing. Known only for the open socket: every closed socket
 * resets the state to `unknown`, since a server still failing says so again right after the next join.
 * A server without the extension never sends the message, so its state stays `unknown`.
 */
import type { WebsocketProvider } from 'y-websocket'
import { MessageType, readStorage, StorageState } from '../../shared/protocol/index.ts'
import { ObservableState } from './observable-state.ts'

/** `unknown`: not connected, or nothing said yet on this socket; `ok` / `failing`: as the server said. */
export type ServerStorageState = 'unknown' | 'ok' | 'failing'

/** The server's storage state for one provider; detach with `stop`. */
export interface ServerStorageStatus {
  readonly state: ServerStorageState
  /** Calls `listener` on every change of state (not with the current one); returns the unsubscribe. */
  subscribe(listener: (state: ServerStorageState) => void): () => void
  /** Removes the message handler and the close listener from the provider. */
  stop(): void
}

/** Starts listening for `storage` messages on `provider`, replacing any earlier handler for them. */
export function watchServerStorage(provider: WebsocketProvider): ServerStorageStatus {
  const state = new ObservableState<ServerStorageState>('unknown')

  provider.messageHandlers[MessageType.storage] = (_encoder, decoder) => {
    let said: number
    try {
      said = readStorage(decoder)
    } catch (error) {
      console.warn('tandem: ignoring a malformed storage message', error)
      return
    }
    state.set(said === StorageState.failing ? 'failing' : 'ok')
  }
  const onConnectionClose = () => state.set('unknown')
  provider.on('connection-close', onConnectionClose)

  return {
    get state() {
      return state.value
    },
    subscribe: (listener) => state.subscribe(listener),
    stop() {
      provider.off('connection-close', onConnectionClose)
      delete provider.messageHandlers[MessageType.storage]
    },
  }
}
