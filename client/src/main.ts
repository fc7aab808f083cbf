/**
 * Entry point of the browser app: resolves the room from the URL (`/` makes a new one), opens the
 * shared document (IndexedDB first, then the relay), and mounts the editor, presence list, status,
 * Share and New document controls into the static shell in index.html.
 */
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { TANDEM_EXTENSIONS_PARAM } from '../../shared/protocol/index.ts'
import { watchConnection } from './connection-status.ts'
import { documentTitle } from './document-title.ts'
import { createEditor, TEXT_NAME } from './editor.ts'
import { caretColor, loadIdentity, safeLocalStorage, saveName } from './identity.ts'
import { mountPresence } from './presence.ts'
import { newRoomId, ROOM_PATH_PREFIX, relayUrl, roomUrl, routeFor } from './room-url.ts'
import { trackSaves } from './save-tracking.ts'
import { registerServiceWorker } from './service-worker-registration.ts'
import { mountShare } from './share.ts'
import { createStatusView } from './status-view.ts'
import { watchServerStorage } from './storage-status.ts'
import './styles.css'

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

async function openRoom(roomId: string): Promise<void> {
  const doc = new Y.Doc()
  const ytext = doc.getText(TEXT_NAME)
  const storage = safeLocalStorage()

  // The relay is the only channel between tabs too: a BroadcastChannel update would look like one the
  // server relayed and make "Saved" claim more than the server said.
  const provider = new WebsocketProvider(relayUrl(location), roomId, doc, {
    connect: false,
    disableBc: true,
    params: { [TANDEM_EXTENSIONS_PARAM]: '1' },
  })
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

  element('editor').replaceChildren()
  const view = createEditor(element('editor'), ytext, provider.awareness)
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
  mountShare(element('share'), element('share-popover'), () => roomUrl(location.origin, roomId))

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
  element<HTMLButtonElement>('share').disabled = true
  // Nothing to connect to or save, and nobody to list.
  element('status').hidden = true
  element('app').dataset.route = 'invalid'
  element('app').dataset.ready = 'true'
}

function main(): void {
  element('new-doc').addEventListener('click', () => {
    location.assign(`${ROOM_PATH_PREFIX}${newRoomId()}`)
  })
  const route = routeFor(location.pathname)
  if (route.kind === 'invalid') {
    showInvalidRoom(route.id)
  } else {
    const roomId = route.kind === 'room' ? route.id : newRoomId()
    if (route.kind === 'new') history.replaceState(null, '', `${ROOM_PATH_PREFIX}${roomId}`)
    openRoom(roomId).catch((error: unknown) => {
      console.error('tandem: could not open the document', error)
    })
  }
  registerServiceWorker()
}

main()
