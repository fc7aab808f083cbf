/**
 * The page shown instead of the editor when the server refuses a link (expired, revoked, missing or
 * damaged key, another document's key) or cannot create a document: a heading and an explanation
 * in words, and nothing that connects or retries. `#app[data-route="refused"]` carries the reason's
 * code for tests and styles.
 */
import type { AccessText } from './access-messages.ts'

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

/** Replaces the editor with `text`; `code` names the reason (`token_expired`, …). */
export function showRefusedPage(text: AccessText, code: string): void {
  const notice = document.createElement('div')
  notice.className = 'notice refused'
  notice.setAttribute('role', 'alert')
  const heading = document.createElement('h2')
  heading.textContent = text.title
  const detail = document.createElement('p')
  detail.textContent = text.detail
  const start = document.createElement('p')
  const link = document.createElement('a')
  link.href = '/'
  link.textContent = 'Start a new document'
  start.append(link, ' instead.')
  notice.append(heading, detail, start)
  byId('editor').replaceChildren(notice)
  byId('doc-title').textContent = text.title
  document.title = `${text.title} · Tandem`
  // The live page has none of the editor's buttons.
  for (const id of ['share', 'history-button', 'authors-toggle']) {
    const button = document.getElementById(id) as HTMLButtonElement | null
    if (button) button.disabled = true
  }
  // Nothing to connect to or save, and nobody to list.
  byId('status').hidden = true
  const app = byId('app')
  app.dataset.route = 'refused'
  app.dataset.refused = code
  app.dataset.ready = 'true'
}
