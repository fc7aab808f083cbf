/**
 * The live page's connection to a room's change feed: one `EventSource` at a time, its status in
 * the words a person reads, and the browser's network events.
 *
 * After a drop the browser reconnects a stream by itself, sending `Last-Event-ID`, and the server
 * resumes exactly after it: nothing is refetched. A stream the browser gave up on (CLOSED: an HTTP
 * error instead of a stream) is diagnosed by the caller (a refusal stops the page) or opened again
 * after a pause, with `?lastEventId=` the last id applied; so is one still trying when the browser
 * comes back online, at once. A stream that is open when the network comes back is kept.
 */
import { ObservableState } from '../observable-state.ts'

/**
 * `connecting`: the first stream is opening; `live`: a stream is open; `reconnecting`: it dropped
 * and is being opened again; `offline`: the browser says there is no network; `closed`: the server
 * refused the page for good (see the caller's diagnosis).
 */
export type FeedStatus = 'connecting' | 'live' | 'reconnecting' | 'offline' | 'closed'

/** The feed's event types (PROTOCOL.md, "The change feed"). */
export const FEED_EVENT_TYPES = ['reset', 'change', 'presence'] as const

/** What the feed needs of an EventSource. */
export interface EventSourceLike extends Pick<EventTarget, 'addEventListener'> {
  readonly readyState: number
  close(): void
}

/** What the feed needs of the window: the network events and `navigator.onLine`. */
export interface NetworkWindow extends Pick<EventTarget, 'addEventListener' | 'removeEventListener'> {
  readonly navigator: { readonly onLine: boolean }
}

export interface LiveFeedOptions {
  /** The stream's URL, resuming after `lastId` (null: from the start, which begins with a reset). */
  url: (lastId: number | null) => string
  /** The last change id applied (null: none, or lost track). */
  lastId: () => number | null
  /** Hears one event; 'lost' when the page cannot follow (the feed then opens a stream anew). */
  onEvent: (type: string, id: string, data: string) => 'ok' | 'lost'
  /** Hears each status change. */
  onStatus: (status: FeedStatus) => void
  /** Asked when the browser gave up on a stream while online: 'stop' to stay closed (a refusal). */
  whenClosed: () => Promise<'retry' | 'stop'>
  /** Opens an EventSource (the browser's by default). */
  open?: (url: string) => EventSourceLike
  win?: NetworkWindow
  /** The pause before the `attempt`th reopening of a stream the browser gave up on. */
  retryDelayMs?: (attempt: number) => number
  /** The event types `onEvent` hears (FEED_EVENT_TYPES by default). */
  eventTypes?: readonly string[]
}

/**
 * The feed's URL for `room`: the token as `?token=` (an EventSource cannot set headers) and, for a
 * stream the page opens itself to resume, `?lastEventId=`.
 */
export function feedUrl(room: string, token: string | null, lastId: number | null): string {
  const params = new URLSearchParams()
  if (token) params.set('token', token)
  if (lastId !== null) params.set('lastEventId', String(lastId))
  const query = params.toString()
  return `/api/rooms/${encodeURIComponent(room)}/events${query ? `?${query}` : ''}`
}

const CONNECTING = 0
const OPEN = 1

/** 1 s, doubling up to 30 s. */
export const defaultRetryDelay = (attempt: number): number => Math.min(30_000, 1000 * 2 ** (attempt - 1))

/** The status from the facts it depends on. */
export function feedStatus(facts: {
  refused: boolean
  online: boolean
  readyState: number | null
  everOpen: boolean
}): FeedStatus {
  if (facts.refused) return 'closed'
  if (!facts.online) return 'offline'
  if (facts.readyState === OPEN) return 'live'
  return facts.everOpen ? 'reconnecting' : 'connecting'
}

/** Opens the feed; `stop` closes it and detaches from the window. */
export function openLiveFeed(options: LiveFeedOptions): { stop: () => void; status: () => FeedStatus } {
  const win = options.win ?? window
  const open = options.open ?? ((url: string) => new EventSource(url))
  const retryDelay = options.retryDelayMs ?? defaultRetryDelay
  let source: EventSourceLike | null = null
  let everOpen = false
  let refused = false
  let attempts = 0
  let retryTimer: ReturnType<typeof setTimeout> | undefined

  const status = new ObservableState<FeedStatus>('connecting')
  status.subscribe(options.onStatus)
  const update = () =>
    status.set(
      feedStatus({ refused, online: win.navigator.onLine, readyState: source?.readyState ?? null, everOpen }),
    )

  const close = () => {
    clearTimeout(retryTimer)
    source?.close()
  }

  const connect = () => {
    close()
    const current = open(options.url(options.lastId()))
    source = current
    current.addEventListener('open', () => {
      if (current !== source) return
      everOpen = true
      attempts = 0
      update()
    })
    current.addEventListener('error', () => {
      if (current !== source) return
      update()
      // CONNECTING: the browser reconnects by itself, with Last-Event-ID.
      if (current.readyState !== CONNECTING) gaveUp(current)
    })
    const onMessage = (event: Event) => {
      if (current !== source) return
      const { type, lastEventId, data } = event as MessageEvent<string>
      if (options.onEvent(type, lastEventId, data) === 'lost') {
        current.close()
        update()
        retryLater()
      }
    }
    for (const type of options.eventTypes ?? FEED_EVENT_TYPES) current.addEventListener(type, onMessage)
    update()
  }

  const retryLater = () => {
    clearTimeout(retryTimer)
    attempts++
    retryTimer = setTimeout(connect, retryDelay(attempts))
  }

  const gaveUp = (closed: EventSourceLike) => {
    // Offline: the `online` event opens it again.
    if (!win.navigator.onLine) return
    options.whenClosed().then(
      (verdict) => {
        if (closed !== source || refused) return
        if (verdict === 'stop') {
          refused = true
          update()
        } else retryLater()
      },
      () => closed === source && retryLater(),
    )
  }

  const onOnline = () => {
    if (refused) return
    if (source?.readyState === OPEN) update()
    else connect()
  }
  const onOffline = () => update()
  win.addEventListener('online', onOnline)
  win.addEventListener('offline', onOffline)
  options.onStatus(status.value)
  connect()

  return {
    status: () => status.value,
    stop: () => {
      close()
      source = null
      win.removeEventListener('online', onOnline)
      win.removeEventListener('offline', onOffline)
    },
  }
}
