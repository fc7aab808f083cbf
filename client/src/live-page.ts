/**
 * Entry point of the live page, `/r/<room>/live`: the document shown read-only as it changes, who is
 * there and the connection's status, over the change feed (Server-Sent Events) and the HTTP API
 * only; no WebSocket, no Yjs. The fallback where a network blocks WebSockets, and a way to show a
 * document on a screen. The token comes as for the editor (`#token=` or this tab's memory) and goes
 * to the feed as `?token=`. After a drop the stream resumes from the last change id, so the text is
 * never fetched again.
 */
import { preflight } from './access-api.ts'
import { refusalText } from './access-messages.ts'
import { resolveToken, safeSessionStorage, withToken } from './access-token.ts'
import { documentTitle } from './document-title.ts'
import { LiveDocument } from './live/live-document.ts'
import { feedUrl, openLiveFeed } from './live/live-feed.ts'
import { lastChangeText, mountText, showPeople, showStatus } from './live/live-view.ts'
import { showRefusedPage } from './refused-page.ts'
import { liveRoomFor, roomUrl } from './room-url.ts'
import './styles.css'
import './live/live.css'

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

function showInvalidRoom(): void {
  showRefusedPage(
    {
      title: 'This link does not point to a document',
      detail: 'A live page’s address is /r/<document>/live. Check the link, or start a new document.',
    },
    'invalid_room',
  )
}

function openLive(room: string, token: string | null): void {
  const app = element('app')
  const editorLink = element<HTMLAnchorElement>('open-editor')
  const url = roomUrl(location.origin, room)
  editorLink.href = token ? withToken(url, token) : url

  const doc = new LiveDocument()
  const text = mountText(element('live-text'))
  const connection = app.querySelector<HTMLElement>('[data-connection]')!
  const lastChange = app.querySelector<HTMLElement>('[data-last-change]')!
  const title = element('doc-title')
  const showText = () => {
    const name = documentTitle(doc.text)
    if (title.textContent !== name) title.textContent = name
    document.title = `${name} · Live · Tandem`
    lastChange.textContent = lastChangeText(doc.lastChange)
    app.dataset.changeId = String(doc.id ?? '')
  }

  openLiveFeed({
    url: (lastId) => feedUrl(room, token, lastId),
    lastId: () => doc.id,
    onEvent: (type, id, data) => {
      const outcome = doc.receive(type, id, data)
      switch (outcome.kind) {
        case 'reset':
          text.reset(outcome.text)
          showText()
          app.dataset.ready = 'true'
          break
        case 'change':
          text.apply(outcome.delta)
          showText()
          break
        case 'presence':
          showPeople(element('presence'), outcome.people)
          break
        case 'lost':
          console.warn(`tandem: the live page lost track (${outcome.reason}); starting over`)
          return 'lost'
        case 'ignored':
          break
      }
      return 'ok'
    },
    onStatus: (status) => {
      showStatus(connection, status)
      app.dataset.status = status
    },
    // The browser does not say why it gave up on a stream; the access API does, for a refusal.
    whenClosed: async () => {
      const verdict = await preflight(room, token)
      if (verdict.kind !== 'refused') return 'retry'
      showRefusedPage(refusalText(verdict.code, verdict.reason), verdict.code)
      return 'stop'
    },
  })
}

function main(): void {
  const room = liveRoomFor(location.pathname)
  if (room === null) showInvalidRoom()
  else openLive(room, resolveToken(room, location.hash, safeSessionStorage()))
}

main()
