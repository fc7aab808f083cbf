/**
 * The connection to the relay as the user should understand it, and the browser's online/offline
 * events applied to the provider. A WebSocket is not reliably cut when the network goes away, so
 * going offline disconnects the provider and coming back connects it (its own backoff then applies).
 */
import type { WebsocketProvider } from 'y-websocket'
import { closeCodeName } from '../../shared/protocol/index.ts'
import { isAccessClose } from './access-messages.ts'
import { ObservableState } from './observable-state.ts'

/**
 * `connecting`: first attempt; `connected`: socket open; `reconnecting`: lost or failed, the provider
 * retries with backoff; `offline`: the browser is offline, no attempts; `closed`: the server refused
 * the connection for good (4400-4499), see `closeReason`.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed'

export interface ConnectionSnapshot {
  state: ConnectionState
  /** For `closed`: the close code's name and the server's reason. */
  closeReason: string | null
  /** For `closed`: whether trying again could help (not when access ended: expired, revoked...). */
  retryable: boolean
}

/** Watches `provider` and the window's network events; call `stop` to detach. */
export function watchConnection(
  provider: WebsocketProvider,
  onChange: (snapshot: ConnectionSnapshot) => void,
  win: Window = window,
): { stop: () => void; retry: () => void; end: (reason: string) => void; current: () => ConnectionSnapshot } {
  let hasBeenConnected = false
  const snapshot = new ObservableState<ConnectionSnapshot>(
    { state: win.navigator.onLine ? 'connecting' : 'offline', closeReason: null, retryable: true },
    (a, b) => a.state === b.state && a.closeReason === b.closeReason && a.retryable === b.retryable,
  )
  snapshot.subscribe(onChange)
  const set = (state: ConnectionState, closeReason: string | null = null, retryable = true) =>
    snapshot.set({ state, closeReason, retryable })

  const onStatus = ({ status }: { status: 'connected' | 'disconnected' | 'connecting' }) => {
    if (status === 'connected') {
      hasBeenConnected = true
      set('connected')
    } else if (!win.navigator.onLine || !provider.shouldConnect) {
      if (snapshot.value.state !== 'closed') set('offline')
    } else {
      set(hasBeenConnected ? 'reconnecting' : 'connecting')
    }
  }
  const onConnectionClose = () => {
    // A failed attempt emits no 'disconnected' status; the provider is now backing off.
    if (provider.shouldConnect && win.navigator.onLine && !provider.wsconnected) set('reconnecting')
  }
  const onClosed = ({ code, reason }: { code: number; reason: string }) => {
    set('closed', reason ? `${closeCodeName(code)}: ${reason}` : closeCodeName(code), !isAccessClose(code))
  }
  // Once access has ended nothing reconnects, not even the network coming back.
  const ended = () => snapshot.value.state === 'closed' && !snapshot.value.retryable
  const onOffline = () => {
    if (ended()) return
    provider.disconnect()
    set('offline')
  }
  const onOnline = () => {
    if (ended()) return
    set(hasBeenConnected ? 'reconnecting' : 'connecting')
    provider.connect()
  }

  provider.on('status', onStatus)
  provider.on('connection-close', onConnectionClose)
  provider.on('closed', onClosed)
  win.addEventListener('offline', onOffline)
  win.addEventListener('online', onOnline)
  onChange(snapshot.value)

  return {
    current: () => snapshot.value,
    /** Access ended (found by other means than a close code): `closed`, without a retry. */
    end: (reason: string) => {
      provider.disconnect()
      set('closed', reason, false)
    },
    retry: () => {
      if (!win.navigator.onLine || ended()) return
      set(hasBeenConnected ? 'reconnecting' : 'connecting')
      provider.connect()
    },
    stop: () => {
      provider.off('status', onStatus)
      provider.off('connection-close', onConnectionClose)
      provider.off('closed', onClosed)
      win.removeEventListener('offline', onOffline)
      win.removeEventListener('online', onOnline)
    },
  }
}
