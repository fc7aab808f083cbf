/**
 * What this browser may do in the open room, kept current while the editor is open: the preflight's
 * answer to start with, then the relay's `access` messages (Tandem's opt-in extension, sent after
 * joining and whenever the room's mode or this connection's access changes), and the end of access
 * when the relay closes the connection for an access reason (4401 expired, 4410 revoked, 4403
 * forbidden). A refusal at the WebSocket upgrade (HTTP 401/403) reaches the browser only as a failed
 * socket, which the provider would retry forever; so a connection that fails before opening asks
 * the access API again, and a refusal there ends access too. The provider stops reconnecting once
 * access has ended.
 */
import type { WebsocketProvider } from 'y-websocket'
import { MessageType, readAccess } from '../../shared/protocol/index.ts'
import type { AccessLevel, Preflight } from './access-api.ts'
import { type AccessText, accessCloseText, refusalText } from './access-messages.ts'
import { ObservableState } from './observable-state.ts'

/** `access`: the effective access (null while unknown, and with auth off); `ended`: why it ended. */
export interface AccessState {
  access: AccessLevel | null
  ended: (AccessText & { code: string }) | null
}

export interface AccessStatus {
  readonly state: AccessState
  /** Calls `listener` on every change (not with the current state); returns the unsubscribe. */
  subscribe(listener: (state: AccessState) => void): () => void
  /** Removes the message handler and the listeners from the provider. */
  stop(): void
}

/** Least time between two access re-checks after failed connection attempts. */
export const RECHECK_INTERVAL_MS = 5000

/**
 * Follows `provider`'s access, starting from `initial`. `recheck` asks the access API again (the
 * preflight) after an attempt that failed before the socket opened; omit it when rooms are open.
 */
export function watchAccess(
  provider: WebsocketProvider,
  initial: AccessLevel | null,
  recheck?: () => Promise<Preflight>,
  now: () => number = Date.now,
): AccessStatus {
  const state = new ObservableState<AccessState>(
    { access: initial, ended: null },
    (a, b) => a.access === b.access && a.ended === b.ended,
  )
  // Subscribed first, so the provider is already disconnected when anyone hears that access ended.
  state.subscribe(({ ended }) => {
    if (ended) provider.disconnect()
  })
  const set = (next: Partial<AccessState>) => {
    if (!state.value.ended) state.set({ ...state.value, ...next })
  }

  provider.messageHandlers[MessageType.access] = (_encoder, decoder) => {
    try {
      set({ access: readAccess(decoder) })
    } catch (error) {
      console.warn('tandem: ignoring a malformed access message', error)
    }
  }

  const onClosed = ({ code }: { code: number }) => {
    const text = accessCloseText(code)
    if (text) set({ ended: { ...text, code: String(code) } })
  }

  let lastRecheck = Number.NEGATIVE_INFINITY
  let rechecking = false
  const onConnectionClose = (event: CloseEvent | null) => {
    // `wsconnected` still says whether this socket had opened: only attempts that never did.
    if (!recheck || event === null || provider.wsconnected || rechecking) return
    if (now() - lastRecheck < RECHECK_INTERVAL_MS) return
    lastRecheck = now()
    rechecking = true
    recheck()
      .then((verdict) => {
        if (verdict.kind === 'refused') {
          const text = refusalText(verdict.code, verdict.reason)
          set({ ended: { title: `${text.title}.`, detail: text.detail, code: verdict.code } })
        } else if (verdict.kind === 'granted') {
          set({ access: verdict.access.effectiveAccess })
        }
      })
      .finally(() => {
        rechecking = false
      })
  }

  provider.on('closed', onClosed)
  provider.on('connection-close', onConnectionClose)

  return {
    get state() {
      return state.value
    },
    subscribe: (listener) => state.subscribe(listener),
    stop() {
      provider.off('closed', onClosed)
      provider.off('connection-close', onConnectionClose)
      delete provider.messageHandlers[MessageType.access]
    },
  }
}
