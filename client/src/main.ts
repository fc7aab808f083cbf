/**
 * Entry point of the browser app: resolves the room from the URL (`/` makes a new one, through the
 * server when it controls access), asks the server what this link may do (the preflight; a refusal
 * shows why instead of the editor), opens the shared document (IndexedDB first, then the relay), and
 * mounts the editor, presence list, status, Share and New document controls into the static shell
 * in index.html.
 */
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { TANDEM_EXTENSIONS_PARAM } from '../../shared/protocol/index.ts'
import { createLink, createRoom, preflight, type RoomAccess } from './access-api.ts'
import { linkScope, refusalText } from './access-messages.ts'
import { watchAccess } from './access-status.ts'
import {
  cacheAccess,
  cachedAccess,
  rememberToken,
  resolveToken,
  safeSessionStorage,
  withToken,
} from './access-token.ts'
import { mountAuthorsToggle } from './authors/authors-toggle.ts'
import { watchConnection } from './connection-status.ts'
import { documentTitle } from './document-title.ts'
import { createEditor, TEXT_NAME } from './editor.ts'
import { mountHistoryButton } from './history/history-button.ts'
import { caretColor, loadIdentity, safeLocalStorage, saveName } from './identity.ts'
import { mountPresence } from './presence.ts'
import { guardPresence } from './presence-states.ts'
import { setReadOnly } from './read-only.ts'
import { showRefusedPage } from './refused-page.ts'
import type { RoomApi } from './room-api.ts'
import { liveUrl, newRoomId, ROOM_PATH_PREFIX, relayUrl, roomUrl, routeFor } from './room-url.ts'
import { trackSaves } from './save-tracking.ts'
import { registerServiceWorker } from './service-worker-registration.ts'
import { mountShare } from './share.ts'
import { createStatusView } from './status-view.ts'
import { watchServerStorage } from './storage-status.ts'
import './styles.css'

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

/** What Share says of the live page's link, before what the link itself grants. */
const LIVE_SCOPE = 'It opens a read-only page that follows the document live, without WebSockets.'

/**
 * Opens `roomId` with `token` (null without access control) and what the server last said it
 * grants (`access`; null when unknown: offline with nothing remembered, or an older server).
 */
async function openRoom(roomId: string, token: string | null, access: RoomAccess | null): Promise<void> {
  const doc = new Y.Doc()
  const ytext = doc.getText(TEXT_NAME)
  const storage = safeLocalStorage()

  // The relay is the only channel between tabs too: a BroadcastChannel update would look like one the
  // server relayed and make "Saved" claim more than the server said.
  const provider = new WebsocketProvider(relayUrl(location), roomId, doc, {
    connect: false,
    disableBc: true,
    params: { [TANDEM_EXTENSIONS_PARAM]: '1', ...(token ? { token } : {}) },
  })
  guardPresence(provider.awareness)
  const accessControlled = access?.auth ?? token !== null
  const identity = loadIdentity(storage)
  provider.awareness.setLocalStateField('user', identity)

  const status = createStatusView(element('status'), element('storage-warning'), () => connection.retry())
  const { tracker } = trackSaves(doc, provider, { storage, storageKey: `tandem:server-state:${roomId}` })
  tracker.subscribe(status.sync)
  status.sync(tracker.state)
  const serverStorage = watchServerStorage(provider)
  serverStorage.subscribe(status.storage)
  status.storage(serverStorage.state)
  const connection = watchConnection(provider, status.connection)

  const persistence = new IndexeddbPersistence(`tandem:${roomId}`, doc)
  // IndexedDB can be unavailable (some private modes); the relay still works without it.
  await persistence._db
    .then(() => persistence.whenSynced)
    .catch((error: unknown) => console.warn('tandem: offline storage unavailable', error))

  const accessStatus = watchAccess(
    provider,
    access?.effectiveAccess ?? null,
    accessControlled ? () => preflight(roomId, token) : undefined,
  )
  const readOnly = () => accessStatus.state.access === 'view' || accessStatus.state.ended !== null

  element('editor').replaceChildren()
  const view = createEditor(element('editor'), ytext, provider.awareness, { readOnly: readOnly() })
  const showAccess = () => {
    const { access: effective, ended } = accessStatus.state
    setReadOnly(view, readOnly())
    element('access-badge').hidden = effective !== 'view' || ended !== null
    element('app').dataset.access = ended ? 'ended' : (effective ?? 'unknown')
    const banner = element('access-ended')
    banner.hidden = ended === null
    if (ended) {
      const lead = document.createElement('strong')
      lead.textContent = ended.title
      const message = document.createElement('span')
      message.append(lead, ` ${ended.detail}`)
      banner.replaceChildren(message)
      banner.dataset.code = ended.code
      connection.end(ended.title)
    }
  }
  // History and authorship come over the HTTP API, with this link's token; writes are credited to
  // this browser's presence id and name (as its socket's are).
  const api: RoomApi = {
    room: roomId,
    token,
    author: () => (provider.awareness.getLocalState()?.user as { name?: string } | undefined)?.name ?? null,
    authorId: () => (provider.awareness.getLocalState()?.user as { id?: string } | undefined)?.id ?? null,
  }
  mountAuthorsToggle({ button: element('authors-toggle'), view, api, storage })
  const history = mountHistoryButton(element('history-button'), {
    api,
    host: element('workspace'),
    canEdit: () => !readOnly(),
    onTextChange: (listener) => {
      ytext.observe(listener)
      return () => ytext.unobserve(listener)
    },
  })
  accessStatus.subscribe((state) => {
    if (access && state.access && !state.ended)
      cacheAccess({ ...access, effectiveAccess: state.access }, storage)
    showAccess()
    history.refreshAccess()
  })
  showAccess()
  element('app').dataset.ready = 'true'

  const title = element('doc-title')
  const showTitle = () => {
    const name = documentTitle(ytext.toString())
    if (title.textContent !== name) title.textContent = name
    document.title = `${name} · Tandem`
  }
  let titleFrame = 0
  ytext.observe(() => {
    cancelAnimationFrame(titleFrame)
    titleFrame = requestAnimationFrame(showTitle)
  })
  showTitle()

  let renames = 0
  mountPresence(element('presence'), provider.awareness, {
    onRename: (name) => {
      renames++
      provider.awareness.setLocalStateField('user', {
        ...identity,
        name: saveName(name, storage) ?? name,
        color: caretColor(identity.color, renames),
      })
    },
  })
  mountShare(element('share'), element('share-popover'), () => {
    const url = roomUrl(location.origin, roomId)
    if (!token || access?.auth === false) {
      const scope = 'Anyone with it can edit.'
      const live = async () => ({ url: liveUrl(url), scope: `${LIVE_SCOPE} ${scope}` })
      return { kind: 'copy', url, scope, live }
    }
    if (access?.access === 'admin') {
      const mint = async (level: 'edit' | 'view') => {
        const link = await createLink(roomId, token, level)
        return { url: link.url, scope: linkScope(link.access, link.expiresAt) }
      }
      // The live page reads: a view link is all it needs.
      const live = async () => {
        const link = await mint('view')
        return { url: liveUrl(link.url), scope: `${LIVE_SCOPE} ${link.scope}` }
      }
      return { kind: 'mint', mint, live }
    }
    // Others hand on the link they hold: it grants no more than it already does.
    const level = access?.access ?? accessStatus.state.access ?? 'view'
    const scope = `${linkScope(level, access?.expiresAt ?? null)} Only the document's owner can make new links.`
    const link = withToken(url, token)
    const live = async () => ({ url: liveUrl(link), scope: `${LIVE_SCOPE} ${scope}` })
    return { kind: 'copy', url: link, scope, live }
  })

  if (navigator.onLine) provider.connect()
  view.focus()
}

function showInvalidRoom(id: string): void {
  const message = document.createElement('div')
  message.className = 'notice'
  const heading = document.createElement('h2')
  heading.textContent = 'This link does not point to a document'
  const detail = document.createElement('p')
  detail.textContent = `“${id}” is not a valid document id. Check the link, or start a new document.`
  message.append(heading, detail)
  element('editor').replaceChildren(message)
  element('doc-title').textContent = 'Document not found'
  document.title = 'Document not found · Tandem'
  for (const id of ['share', 'history-button', 'authors-toggle'])
    element<HTMLButtonElement>(id).disabled = true
  // Nothing to connect to or save, and nobody to list.
  element('status').hidden = true
  element('app').dataset.route = 'invalid'
  element('app').dataset.ready = 'true'
}

/** Asks the server what `token` may do in `roomId`, then opens it or shows why it cannot. */
async function openWithAccess(roomId: string, token: string | null): Promise<void> {
  const storage = safeLocalStorage()
  const verdict = await preflight(roomId, token)
  switch (verdict.kind) {
    case 'refused':
      showRefusedPage(refusalText(verdict.code, verdict.reason), verdict.code)
      return
    case 'granted':
      cacheAccess(verdict.access, storage)
      return openRoom(roomId, token, verdict.access)
    case 'noApi':
      return openRoom(roomId, token, null)
    case 'unreachable':
      // Offline (or the server is failing): edit as the server last allowed; the relay still checks.
      return openRoom(roomId, token, cachedAccess(roomId, storage))
  }
}

/** `/`: a new room, made by the server when it controls access (with an admin link), else here. */
async function openNewRoom(): Promise<void> {
  const created = await createRoom()
  if (created.kind === 'failed') {
    showRefusedPage(
      { title: 'A new document could not be made', detail: `The server said: ${created.reason}` },
      'create_failed',
    )
    return
  }
  if (created.kind === 'open') {
    const roomId = newRoomId()
    history.replaceState(null, '', `${ROOM_PATH_PREFIX}${roomId}`)
    return openWithAccess(roomId, null)
  }
  const { room, token, url } = created.room
  const target = new URL(url, location.href)
  if (target.origin !== location.origin) {
    location.assign(target.href)
    return
  }
  if (token) rememberToken(room, token, safeSessionStorage())
  history.replaceState(null, '', `${target.pathname}${target.hash}`)
  return openWithAccess(room, token)
}

function main(): void {
  // `/` makes the room: through the server, which hands back an admin link when it controls access.
  element('new-doc').addEventListener('click', () => location.assign('/'))
  const route = routeFor(location.pathname)
  const opened =
    route.kind === 'invalid'
      ? Promise.resolve(showInvalidRoom(route.id))
      : route.kind === 'new'
        ? openNewRoom()
        : openWithAccess(route.id, resolveToken(route.id, location.hash, safeSessionStorage()))
  opened.catch((error: unknown) => {
    console.error('tandem: could not open the document', error)
  })
  registerServiceWorker()
}

main()
