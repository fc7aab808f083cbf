/**
 * How the open History panel hears of new versions: the room's change feed (PROTOCOL.md, "The change
 * feed"), whose `version` events come from every instance, followed with the live page's EventSource
 * handling (live/live-feed.ts: the browser's own reconnects, offline and online, reopening after a
 * pause). The stream starts after the room's current change id (read from the room's metadata), so
 * it carries no `reset` with the whole text, only the small `change` events typing makes; a resumed
 * stream gets the versions made while it was away. Whenever the stream comes back after a drop the
 * listener is called too, so a list refetched then misses nothing even when the feed had to reset.
 */
import { jsonBody } from '../access-api.ts'
import { feedUrl, type LiveFeedOptions, openLiveFeed } from '../live/live-feed.ts'
import { type RoomApi, roomRequest } from '../room-api.ts'

export interface VersionFeedOptions {
  api: RoomApi
  /** Called for each version event, and each time the stream is live again after a drop. */
  onVersion: () => void
  /** For tests: the EventSource and window the feed uses. */
  open?: LiveFeedOptions['open']
  win?: LiveFeedOptions['win']
}

/** The room's latest change id, from `GET /api/rooms/<room>`; null when it cannot be read. */
async function currentChangeId(api: RoomApi): Promise<number | null> {
  try {
    const body = (await jsonBody(await roomRequest(api, ''))) as { changeId?: unknown } | null
    const id = body?.changeId
    return Number.isSafeInteger(id) && (id as number) >= 0 ? (id as number) : null
  } catch {
    return null
  }
}

/** Follows the room's versions until the returned function is called. */
export function followVersions(options: VersionFeedOptions): () => void {
  const { api, onVersion } = options
  let stopped = false
  let feed: { stop: () => void } | null = null
  let lastId: number | null = null
  let wasLive = false
  void currentChangeId(api).then((start) => {
    if (stopped) return
    // Without it (the metadata could not be read) the stream starts with a reset: larger, still right.
    lastId = start
    feed = openLiveFeed({
      url: (id) => feedUrl(api.room, api.token, id),
      lastId: () => lastId,
      eventTypes: ['reset', 'change', 'version'],
      onEvent: (type, id) => {
        if (type === 'version') onVersion()
        else if (id !== '' && Number.isSafeInteger(Number(id))) lastId = Number(id)
        return 'ok'
      },
      onStatus: (status) => {
        if (status !== 'live') return
        if (wasLive) onVersion()
        wasLive = true
      },
      // A refused stream is not the panel's to explain (the editor shows the refusal): try again later.
      whenClosed: async () => 'retry',
      open: options.open,
      win: options.win,
    })
  })
  return () => {
    stopped = true
    feed?.stop()
  }
}
