/**
 * The History panel: the room's versions (time, name, authors), newest first; choosing one shows its
 * text read-only with its diff against the current text (version-preview.ts); with edit access,
 * "Restore this version", "Restore selection" (a range selected in the preview), "Name current
 * version" and deleting a named version. A view link browses the same and sees why it cannot restore.
 *
 * Loaded on first open (main.ts imports it lazily), so the editor's shell does not carry it. While
 * open it refetches the list whenever a version is made (`followVersions`: the room's change feed,
 * version-feed.ts; without it, every `pollMs`) and after each action, and the chosen version's diff
 * a moment after the text changes, so it follows both new versions and live edits.
 */
import type { RoomApi } from '../room-api.ts'
import {
  deleteVersion,
  listVersions,
  nameVersion,
  restoreVersion,
  type TextRange,
  type VersionInfo,
  versionDiff,
  versionText,
} from './history-api.ts'
import { followVersions } from './version-feed.ts'
import { VersionPreview } from './version-preview.ts'
import './history.css'

export interface HistoryPanelOptions {
  api: RoomApi
  /** Where the panel goes (it overlays the workspace). */
  host: HTMLElement
  /** The header button that opens and closes it (its aria-expanded follows; focus returns to it). */
  button: HTMLButtonElement
  /** Whether this browser may edit (restore, name, delete), read at each render. */
  canEdit: () => boolean
  /** Calls the listener after the document's text changed; returns the unsubscribe. */
  onTextChange: (listener: () => void) => () => void
  /**
   * Calls the listener whenever the room gets a version (and whenever it may have missed one);
   * returns the stop. By default the room's change feed (version-feed.ts); null: the list is
   * refetched every `pollMs` instead.
   */
  followVersions?: ((onVersion: () => void) => () => void) | null
  /** The list's refresh interval while open, with `followVersions` null. */
  pollMs?: number
  /** How long after a text change the chosen version's diff is fetched again. */
  diffDelayMs?: number
}

export interface HistoryPanel {
  readonly isOpen: boolean
  open(): void
  close(): void
  toggle(): void
  /** Shows or hides what edit access allows (call when access changes). */
  refreshAccess(): void
}

export const DEFAULT_POLL_MS = 15_000
export const DEFAULT_DIFF_DELAY_MS = 1500
/** How many versions' texts the panel keeps once fetched. */
const CACHED_TEXTS = 4
/** The longest name the server takes for a version. */
export const MAX_VERSION_NAME = 100

const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** What the list says a version is. */
export function versionTitle(version: VersionInfo): string {
  if (version.name) return version.name
  if (version.kind === 'restore') return `Restored from version ${version.restoredFrom ?? '?'}`
  return 'Automatic version'
}

/** Who made the changes a version holds, in a few words. */
export function versionAuthors(version: VersionInfo): string {
  if (version.authors.length === 0) return version.by ? `by ${version.by}` : 'No new edits'
  if (version.authors.length <= 3) return version.authors.join(', ')
  return `${version.authors.slice(0, 2).join(', ')} and ${version.authors.length - 2} others`
}

/** The diff's summary in words. */
export function diffSummary(inserted: number, deleted: number): string {
  if (inserted === 0 && deleted === 0) return 'Same as the current text.'
  const parts: string[] = []
  if (deleted > 0) parts.push(`${deleted} ${deleted === 1 ? 'character' : 'characters'} removed`)
  if (inserted > 0) parts.push(`${inserted} ${inserted === 1 ? 'character' : 'characters'} added`)
  return `Since this version: ${parts.join(', ')}.`
}

const TEMPLATE = `
  <div class="history-head">
    <h2 id="history-title">History</h2>
    <button type="button" class="button" data-history-name>Name current version</button>
    <button type="button" class="button" data-history-close aria-label="Close history">Close</button>
  </div>
  <form class="history-name-form" data-history-name-form hidden>
    <label for="history-name-input">Name for the current version</label>
    <div class="history-name-row">
      <input id="history-name-input" type="text" required autocomplete="off" maxlength="${MAX_VERSION_NAME}" />
      <button type="submit" class="button primary">Save</button>
      <button type="button" class="button" data-history-name-cancel>Cancel</button>
    </div>
  </form>
  <p class="history-message" role="status" aria-live="polite" data-history-message></p>
  <div class="history-body">
    <ul class="history-list" aria-label="Versions" data-history-list></ul>
    <div class="history-preview" data-history-preview hidden>
      <div class="history-preview-head">
        <h3 data-history-preview-title></h3>
        <p class="history-summary" data-history-summary></p>
        <div class="history-actions" data-history-actions>
          <button type="button" class="button primary" data-history-restore>Restore this version</button>
          <button type="button" class="button" data-history-restore-selection disabled
            title="Select a passage of this version's text first">Restore selection</button>
          <button type="button" class="button danger" data-history-delete hidden>Delete version</button>
        </div>
        <p class="history-note" data-history-view-note hidden>You can browse the history, but restoring needs edit access.</p>
      </div>
      <div class="history-text" data-history-text></div>
    </div>
  </div>
`

/** Mounts the panel (hidden) in `options.host`. */
export function mountHistoryPanel(options: HistoryPanelOptions): HistoryPanel {
  const { api, button } = options
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS
  const diffDelayMs = options.diffDelayMs ?? DEFAULT_DIFF_DELAY_MS

  const panel = document.createElement('section')
  panel.className = 'history'
  panel.id = 'history-panel'
  panel.hidden = true
  panel.setAttribute('role', 'dialog')
  panel.setAttribute('aria-labelledby', 'history-title')
  panel.innerHTML = TEMPLATE
  options.host.append(panel)
  button.setAttribute('aria-controls', panel.id)

  const part = <T extends HTMLElement>(name: string) => panel.querySelector<T>(`[data-${name}]`)!
  const list = part<HTMLUListElement>('history-list')
  const message = part('history-message')
  const preview = part('history-preview')
  const previewTitle = part('history-preview-title')
  const summary = part('history-summary')
  const actions = part('history-actions')
  const viewNote = part('history-view-note')
  const restoreButton = part<HTMLButtonElement>('history-restore')
  const restoreSelectionButton = part<HTMLButtonElement>('history-restore-selection')
  const deleteButton = part<HTMLButtonElement>('history-delete')
  const nameButton = part<HTMLButtonElement>('history-name')
  const nameForm = part<HTMLFormElement>('history-name-form')
  const nameInput = nameForm.querySelector('input')!

  let versions: VersionInfo[] = []
  let chosen: number | null = null
  let selection: TextRange | null = null
  let busy = false
  let pollTimer: ReturnType<typeof setInterval> | undefined
  let diffTimer: ReturnType<typeof setTimeout> | undefined
  let stopTextChanges: (() => void) | null = null
  let stopVersions: (() => void) | null = null
  /** Answers to older requests for the preview are dropped: only the latest one shows. */
  let previewRequest = 0
  /** Likewise for the list: a refresh started before an action must not overwrite the one after it. */
  let listRequest = 0
  const texts = new Map<number, string>()

  /** The preview's editor exists while the panel is open (one editor on the page otherwise). */
  let textView: VersionPreview | null = null
  const onSelect = (range: TextRange | null) => {
    selection = range
    renderActions()
  }

  const say = (text: string, state: 'info' | 'error' = 'info') => {
    message.textContent = text
    message.dataset.state = state
  }
  const failed = (what: string, error: unknown) =>
    say(`${what}: ${error instanceof Error ? error.message : String(error)}`, 'error')

  const chosenVersion = () => versions.find((v) => v.id === chosen) ?? null

  function renderActions(): void {
    const editable = options.canEdit()
    panel.dataset.access = editable ? 'edit' : 'view'
    nameButton.hidden = !editable
    if (!editable) nameForm.hidden = true
    actions.hidden = !editable
    viewNote.hidden = editable
    const version = chosenVersion()
    restoreButton.disabled = busy || version === null
    restoreSelectionButton.disabled = busy || version === null || selection === null
    deleteButton.hidden = version?.kind !== 'named'
    deleteButton.disabled = busy
    if (deleteButton.dataset.confirm && version?.id !== Number(deleteButton.dataset.confirm)) resetDelete()
    nameButton.disabled = busy
  }

  function resetDelete(): void {
    delete deleteButton.dataset.confirm
    deleteButton.textContent = 'Delete version'
  }

  function renderList(): void {
    const focusedId = (document.activeElement as HTMLElement | null)?.dataset?.versionId
    const items = versions.map((version) => {
      const item = document.createElement('li')
      const entry = document.createElement('button')
      entry.type = 'button'
      entry.className = 'history-item'
      entry.dataset.versionId = String(version.id)
      entry.dataset.kind = version.kind
      entry.setAttribute('aria-current', String(version.id === chosen))
      const title = document.createElement('span')
      title.className = 'history-item-title'
      title.textContent = versionTitle(version)
      const time = document.createElement('time')
      time.className = 'history-item-time'
      time.dateTime = new Date(version.at).toISOString()
      time.textContent = TIME_FORMAT.format(version.at)
      const authors = document.createElement('span')
      authors.className = 'history-item-authors'
      authors.textContent = versionAuthors(version)
      entry.append(title, time, authors)
      item.append(entry)
      return item
    })
    if (items.length === 0) {
      const empty = document.createElement('li')
      empty.className = 'history-empty'
      empty.textContent = `No versions yet. One is made when editing pauses${options.canEdit() ? ', or name the current version' : ''}.`
      items.push(empty)
    }
    list.replaceChildren(...items)
    if (focusedId) list.querySelector<HTMLElement>(`[data-version-id="${focusedId}"]`)?.focus()
  }

  async function refreshList(): Promise<void> {
    const request = ++listRequest
    try {
      const listed = await listVersions(api)
      if (request !== listRequest) return
      versions = listed
      panel.dataset.state = 'ready'
    } catch (error) {
      if (request !== listRequest) return
      panel.dataset.state = 'error'
      failed('The history could not be loaded', error)
      return
    }
    if (chosen !== null && !chosenVersion()) {
      chosen = null
      preview.hidden = true
    }
    renderList()
    renderActions()
  }

  /** A version's text never changes: fetched once, while among the last few shown. */
  async function cachedText(id: number): Promise<string> {
    const known = texts.get(id)
    if (known !== undefined) return known
    const text = await versionText(api, id)
    texts.set(id, text)
    // A few texts are kept: going back and forth between versions, not the whole history in memory.
    if (texts.size > CACHED_TEXTS) texts.delete(texts.keys().next().value!)
    return text
  }

  async function showVersion(id: number): Promise<void> {
    const request = ++previewRequest
    const version = versions.find((v) => v.id === id)
    if (!version) return
    const changed = chosen !== id
    chosen = id
    preview.hidden = false
    preview.dataset.versionId = String(id)
    previewTitle.textContent = `${versionTitle(version)} · ${TIME_FORMAT.format(version.at)}`
    if (changed) {
      delete preview.dataset.diff
      summary.textContent = 'Loading…'
    }
    for (const entry of list.querySelectorAll<HTMLElement>('[data-version-id]')) {
      entry.setAttribute('aria-current', String(entry.dataset.versionId === String(id)))
    }
    renderActions()
    try {
      const [text, diff] = await Promise.all([cachedText(id), versionDiff(api, id)])
      if (request !== previewRequest || !textView) return
      const kept = changed ? null : textView.selection()
      textView.show(text, diff.runs)
      if (kept && kept.to <= text.length) textView.select(kept)
      summary.textContent = diffSummary(diff.inserted, diff.deleted)
      preview.dataset.diff = diff.inserted + diff.deleted === 0 ? 'same' : 'different'
    } catch (error) {
      if (request !== previewRequest) return
      summary.textContent = ''
      failed('This version could not be shown', error)
    }
  }

  /**
   * Runs `action` with the buttons disabled; then refreshes the list and says how it went, so the
   * message never shows beside a list that does not reflect it yet.
   */
  async function act(action: () => Promise<string>, failure: string): Promise<void> {
    if (busy) return
    busy = true
    renderActions()
    let outcome: string | null = null
    let error: unknown = null
    try {
      outcome = await action()
    } catch (caught) {
      error = caught
    }
    busy = false
    await refreshList()
    if (outcome !== null) say(outcome)
    else failed(failure, error)
    if (chosen !== null) await showVersion(chosen)
  }

  const restore = (range: TextRange | null) => {
    const version = chosenVersion()
    if (!version) return
    return act(async () => {
      await restoreVersion(api, version.id, range)
      const title = versionTitle(version)
      return range ? `The selected passage of “${title}” is restored.` : `“${title}” is restored.`
    }, 'It could not be restored')
  }

  restoreButton.addEventListener('click', () => restore(null))
  restoreSelectionButton.addEventListener('click', () => restore(textView?.selection() ?? null))
  deleteButton.addEventListener('click', () => {
    const version = chosenVersion()
    if (!version) return
    if (deleteButton.dataset.confirm !== String(version.id)) {
      deleteButton.dataset.confirm = String(version.id)
      deleteButton.textContent = 'Delete for everyone?'
      return
    }
    resetDelete()
    return act(async () => {
      await deleteVersion(api, version.id)
      return `“${versionTitle(version)}” deleted.`
    }, 'It could not be deleted')
  })

  nameButton.addEventListener('click', () => {
    nameForm.hidden = false
    nameInput.value = ''
    nameInput.focus()
  })
  part('history-name-cancel').addEventListener('click', () => {
    nameForm.hidden = true
    nameButton.focus()
  })
  nameForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const name = nameInput.value.trim()
    if (!name) return
    return act(async () => {
      const version = await nameVersion(api, name)
      nameForm.hidden = true
      chosen = version.id
      return `Saved the current text as “${version.name ?? name}”.`
    }, 'It could not be named')
  })

  list.addEventListener('click', (event) => {
    const entry = (event.target as HTMLElement).closest<HTMLElement>('[data-version-id]')
    if (entry) showVersion(Number(entry.dataset.versionId))
  })
  list.addEventListener('keydown', (event) => {
    if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) return
    const entries = [...list.querySelectorAll<HTMLElement>('[data-version-id]')]
    const at = entries.indexOf(document.activeElement as HTMLElement)
    const next =
      event.key === 'Home'
        ? 0
        : event.key === 'End'
          ? entries.length - 1
          : Math.max(0, Math.min(entries.length - 1, at + (event.key === 'ArrowDown' ? 1 : -1)))
    const target = entries[next]
    if (!target) return
    event.preventDefault()
    target.focus()
    showVersion(Number(target.dataset.versionId))
  })

  const onKey = (event: KeyboardEvent) => {
    if (event.key !== 'Escape' || panel.hidden) return
    if (!nameForm.hidden && nameForm.contains(event.target as Node)) {
      nameForm.hidden = true
      nameButton.focus()
      return
    }
    close()
  }
  part('history-close').addEventListener('click', () => close())

  function open(): void {
    if (!panel.hidden) return
    panel.hidden = false
    button.setAttribute('aria-expanded', 'true')
    textView = new VersionPreview(part('history-text'), onSelect)
    document.addEventListener('keydown', onKey)
    say('')
    renderActions()
    refreshList().then(() => (chosen !== null ? showVersion(chosen) : undefined))
    panel.querySelector<HTMLElement>('[data-history-close]')!.focus()
    const follow =
      options.followVersions === undefined
        ? (onVersion: () => void) => followVersions({ api, onVersion })
        : options.followVersions
    if (follow) stopVersions = follow(() => refreshList())
    else pollTimer = setInterval(() => refreshList(), pollMs)
    stopTextChanges = options.onTextChange(() => {
      clearTimeout(diffTimer)
      diffTimer = setTimeout(() => chosen !== null && !busy && showVersion(chosen), diffDelayMs)
    })
  }

  function close(): void {
    if (panel.hidden) return
    panel.hidden = true
    button.setAttribute('aria-expanded', 'false')
    textView?.destroy()
    textView = null
    selection = null
    previewRequest++
    delete preview.dataset.diff
    document.removeEventListener('keydown', onKey)
    clearInterval(pollTimer)
    stopVersions?.()
    stopVersions = null
    clearTimeout(diffTimer)
    stopTextChanges?.()
    stopTextChanges = null
    button.focus()
  }

  return {
    get isOpen() {
      return !panel.hidden
    },
    open,
    close,
    toggle: () => (panel.hidden ? open() : close()),
    refreshAccess: renderActions,
  }
}
