/**
 * History and authorship in real Chromium against the real server (port 0, temp SQLite, an auth
 * secret) serving a fresh production build (issue #22, "In the browser"): naming a version, the
 * History panel listing it with its diff against the current text, restoring it so the page and a
 * stock y-websocket client converge, restoring only a selected passage, a view link that browses
 * history but cannot restore, and the Authors toggle colouring two writers' text in two colours
 * with a legend. Screenshots go to tests/screenshots/ (git-ignored).
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEXT_NAME } from '../client/src/editor.ts'
import { signRoomToken } from '../server/auth/tokens.ts'
import { AppPage, type BrowserApp, browserSkipReason, startBrowserApp } from './helpers/browser.ts'
import { connectClient, synced, type TestClient, waitFor } from './helpers/relay.ts'

const skipReason = browserSkipReason()
mkdirSync(fileURLToPath(new URL('./screenshots', import.meta.url)), { recursive: true })

const SECRET = 'browser-history-test-secret-0123456789abcdef'
const TEST_TIMEOUT = 120_000

/** The room of a `/r/<room>` link. */
const roomOf = (url: string) => new URL(url).pathname.replace(/^\/r\//, '')

describe.skipIf(skipReason !== null)('browser history and authorship', () => {
  let app: BrowserApp
  let origin: string
  const clients: TestClient[] = []
  const newContext = (options: Parameters<BrowserApp['newContext']>[0] = {}) => app.newContext(options)

  /** A link to `room` with a new token of `access`, naming its holder `name`. */
  const link = async (room: string, access: 'edit' | 'view', name: string) => {
    const { token } = await signRoomToken(SECRET, { room, access, ttlSeconds: 3600, name })
    return { url: `${origin}/r/${room}#token=${token}`, token }
  }

  /** An owner named `name` in a new room (made at `/`, so with an admin link), and the room. */
  const newOwner = async (name: string, options: Parameters<BrowserApp['newContext']>[0] = {}) => {
    const owner = await AppPage.open(await newContext(options), `${origin}/`)
    await owner.rename(name)
    await owner.waitForConnection('connected')
    return { owner, room: roomOf(owner.page.url()) }
  }

  /** A stock y-websocket client in `room` with an edit token, synced. */
  const stockClient = async (room: string) => {
    const { token } = await link(room, 'edit', 'Script')
    const client = connectClient(app.server.url, room, { params: { token } })
    clients.push(client)
    await synced(client)
    return { client, text: client.doc.getText(TEXT_NAME) }
  }

  const openHistory = async (page: Page) => {
    await page.getByRole('button', { name: 'History' }).click()
    await page.locator('#history-panel[data-state="ready"]').waitFor()
  }

  /** The list's entry titled exactly `title`. */
  const versionEntry = (page: Page, title: string) =>
    page.locator('#history-panel .history-item', {
      has: page.locator('.history-item-title').getByText(title, { exact: true }),
    })

  const nameVersion = async (page: Page, name: string) => {
    await page.getByRole('button', { name: 'Name current version' }).click()
    await page.getByLabel('Name for the current version').fill(name)
    await page.getByLabel('Name for the current version').press('Enter')
    await versionEntry(page, name).waitFor()
  }

  /** Chooses the version titled `title` and waits for its preview and diff. */
  const choose = async (page: Page, title: string) => {
    const entry = versionEntry(page, title)
    const id = await entry.getAttribute('data-version-id')
    await entry.click()
    await page.locator(`#history-panel [data-history-preview][data-version-id="${id}"][data-diff]`).waitFor()
  }

  /** The editor's text (AppPage.text reads every CodeMirror on the page, the History preview's too). */
  const editorText = (page: Page) =>
    page
      .locator('#editor .cm-content')
      .evaluate((content) =>
        [...content.querySelectorAll('.cm-line')].map((line) => line.textContent).join('\n'),
      )

  /** The preview's text, without the insertions shown in it (they are not the version's). */
  const previewText = (page: Page) =>
    page.locator('#history-panel .history-text .cm-content').evaluate((content) =>
      [...content.querySelectorAll('.cm-line')]
        .map((line) => {
          const copy = line.cloneNode(true) as HTMLElement
          for (const widget of copy.querySelectorAll('.cm-history-insert, .cm-widgetBuffer')) widget.remove()
          return copy.textContent
        })
        .join('\n'),
    )

  /** The preview read as the diff says: without the text today's lacks, with the insertions. */
  const previewAsDiff = (page: Page) =>
    page.locator('#history-panel .history-text .cm-content').evaluate((content) =>
      [...content.querySelectorAll('.cm-line')]
        .map((line) => {
          const copy = line.cloneNode(true) as HTMLElement
          for (const removed of copy.querySelectorAll('.cm-history-delete, .cm-widgetBuffer'))
            removed.remove()
          return copy.textContent
        })
        .join('\n'),
    )

  beforeAll(async () => {
    app = await startBrowserApp({ authSecret: SECRET })
    origin = app.origin
  })

  afterAll(async () => {
    for (const client of clients) client.destroy()
    await app?.close()
  })

  it(
    'names a version, shows its diff against now, and restores it on the page and a stock client',
    async () => {
      const { owner, room } = await newOwner('Ada')
      const { page } = owner
      await owner.typeAtEnd('# Plan\n\nthe first draft')
      await owner.waitForSaved()
      await openHistory(page)
      await nameVersion(page, 'Draft one')
      await expect(
        versionEntry(page, 'Draft one').locator('.history-item-authors').innerText(),
      ).resolves.toBe('Ada')

      const stock = await stockClient(room)
      await waitFor(() => stock.text.toString() === '# Plan\n\nthe first draft', 'the stock client to sync')
      stock.client.doc.transact(() => {
        stock.text.delete('# Plan\n\nthe '.length, 'first '.length)
        stock.text.insert(stock.text.length, '\nadded later')
      })
      await owner.waitForText('added later')

      // A version a program names over the API shows in the open panel by itself (the change feed's
      // `version` event; the panel no longer polls).
      const { token: botToken } = await link(room, 'edit', 'Bot')
      const named = await fetch(`${origin}/api/rooms/${room}/versions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${botToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Named by a bot' }),
      })
      expect(named.status).toBe(201)
      await versionEntry(page, 'Named by a bot').waitFor({ timeout: 10_000 })

      await choose(page, 'Draft one')
      await page.locator('[data-history-preview][data-diff="different"]').waitFor()
      expect(await previewText(page)).toBe('# Plan\n\nthe first draft')
      // Read as a diff (struck-through text left out, insertions kept), the preview is today's text.
      expect(await previewAsDiff(page)).toBe('# Plan\n\nthe draft\nadded later')
      expect((await page.locator('.history-text .cm-history-delete').allInnerTexts()).join('')).toContain(
        'first',
      )
      expect(await page.locator('[data-history-summary]').innerText()).toMatch(
        /^Since this version: \d+ characters? removed, \d+ characters? added\.$/,
      )
      await owner.screenshot('history-diff-light')

      await page.getByRole('button', { name: 'Restore this version' }).click()
      await page.locator('[data-history-message]', { hasText: '“Draft one” is restored.' }).waitFor()
      await waitFor(
        async () => (await editorText(page)) === '# Plan\n\nthe first draft',
        'the page to restore',
      )
      await waitFor(
        () => stock.text.toString() === '# Plan\n\nthe first draft',
        'the stock client to restore',
      )
      await page.locator('[data-history-preview][data-diff="same"]').waitFor()
      await versionEntry(page, 'Restored from "Draft one"').waitFor()
      expect(await versionEntry(page, 'Restored from "Draft one"').getAttribute('data-kind')).toBe('restore')

      // Escape closes the panel (and its preview); the editor still edits after a restore, and both converge.
      await page.keyboard.press('Escape')
      expect(await page.locator('#history-panel').isHidden()).toBe(true)
      expect(await page.getByRole('button', { name: 'History' }).getAttribute('aria-expanded')).toBe('false')
      await owner.typeAtEnd('\nafter the restore')
      await waitFor(() => stock.text.toString().endsWith('after the restore'), 'an edit after the restore')
    },
    TEST_TIMEOUT,
  )

  it(
    'restores only a selected passage of an old version, leaving the rest as it is now',
    async () => {
      const { owner, room } = await newOwner('Ada', { dark: true })
      const { page } = owner
      await owner.typeAtEnd('alpha\nbeta\ngamma')
      await owner.waitForSaved()
      await openHistory(page)
      await nameVersion(page, 'Three lines')

      const stock = await stockClient(room)
      await waitFor(() => stock.text.toString() === 'alpha\nbeta\ngamma', 'the stock client to sync')
      stock.client.doc.transact(() => {
        stock.text.delete(0, 'alpha'.length)
        stock.text.insert(0, 'ALPHA')
        stock.text.delete('ALPHA\n'.length, 'beta'.length)
        stock.text.insert('ALPHA\n'.length, 'BETA')
      })
      await owner.waitForText('ALPHA\nBETA')

      await choose(page, 'Three lines')
      await page.locator('[data-history-preview][data-diff="different"]').waitFor()
      const restoreSelection = page.getByRole('button', { name: 'Restore selection' })
      expect(await restoreSelection.isDisabled()).toBe(true)
      // Select "beta" in the preview with the keyboard: line 2, from its start to its end.
      await page.locator('.history-text .cm-content').click()
      await page.keyboard.press('Control+Home')
      await page.keyboard.press('ArrowDown')
      await page.keyboard.press('Home')
      await page.keyboard.press('Shift+End')
      await page.waitForFunction(
        () => !document.querySelector<HTMLButtonElement>('[data-history-restore-selection]')!.disabled,
      )
      await owner.screenshot('history-selection-dark')
      await restoreSelection.click()
      await page
        .locator('[data-history-message]', { hasText: 'The selected passage of “Three lines” is restored.' })
        .waitFor()
      await waitFor(
        async () => (await editorText(page)) === 'ALPHA\nbeta\ngamma',
        'the page to restore the passage',
      )
      await waitFor(
        () => stock.text.toString() === 'ALPHA\nbeta\ngamma',
        'the stock client to restore the passage',
      )

      // A named version can be deleted, once a second click confirms it.
      await nameVersion(page, 'Scratch')
      await choose(page, 'Scratch')
      await page.getByRole('button', { name: 'Delete version' }).click()
      await page.getByRole('button', { name: 'Delete for everyone?' }).click()
      await page.locator('[data-history-message]', { hasText: '“Scratch” deleted.' }).waitFor()
      expect(await versionEntry(page, 'Scratch').count()).toBe(0)
      expect(await versionEntry(page, 'Three lines').count()).toBe(1)
    },
    TEST_TIMEOUT,
  )

  it(
    'a view link browses the history but cannot restore, name or delete',
    async () => {
      const { owner, room } = await newOwner('Ada')
      await owner.typeAtEnd('written by the owner')
      await owner.waitForSaved()
      await openHistory(owner.page)
      await nameVersion(owner.page, 'Owner’s version')

      const viewer = await AppPage.open(
        await newContext({ phone: true }),
        (await link(room, 'view', 'Viewer')).url,
      )
      await viewer.waitForText('written by the owner')
      await viewer.page.locator('#app[data-access="view"]').waitFor()
      await openHistory(viewer.page)
      await choose(viewer.page, 'Owner’s version')
      expect(await previewText(viewer.page)).toBe('written by the owner')
      expect(await viewer.page.locator('#history-panel').getAttribute('data-access')).toBe('view')
      expect(await viewer.page.getByRole('button', { name: 'Restore this version' }).isVisible()).toBe(false)
      expect(await viewer.page.getByRole('button', { name: 'Restore selection' }).isVisible()).toBe(false)
      expect(await viewer.page.getByRole('button', { name: 'Name current version' }).isVisible()).toBe(false)
      expect(await viewer.page.locator('[data-history-view-note]').isVisible()).toBe(true)
      await viewer.screenshot('history-view-link-phone-light')

      // The server refuses a view link's restore too, whatever the page shows.
      const { token } = await link(room, 'view', 'Viewer')
      const id = await versionEntry(viewer.page, 'Owner’s version').getAttribute('data-version-id')
      const response = await fetch(`${origin}/api/rooms/${room}/versions/${id}/restore`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      })
      expect(response.status).toBe(403)
    },
    TEST_TIMEOUT,
  )

  it(
    'the Authors toggle colours two writers in two colours with a legend, and is remembered',
    async () => {
      const { owner, room } = await newOwner('Ada')
      await owner.typeAtEnd('Ada wrote this line.')
      await owner.waitForSaved()
      const bob = await AppPage.open(await newContext({ dark: true }), (await link(room, 'edit', 'Bob')).url)
      await bob.rename('Bob')
      await bob.waitForText('Ada wrote this line.')
      await bob.typeAtEnd('\nBob wrote this one.')
      await bob.waitForSaved()
      await owner.waitForText('Bob wrote this one.')

      const toggle = owner.page.getByRole('button', { name: 'Authors' })
      expect(await toggle.getAttribute('aria-pressed')).toBe('false')
      expect(await owner.page.locator('.cm-author').count()).toBe(0)
      await toggle.click()
      expect(await toggle.getAttribute('aria-pressed')).toBe('true')
      const legend = owner.page.locator('.cm-authors-legend')
      await legend.locator('.cm-authors-entry').nth(1).waitFor()
      expect(await legend.locator('.cm-authors-name').allInnerTexts()).toEqual(['Ada', 'Bob'])
      expect(await legend.locator('.cm-authors-chars').allInnerTexts()).toEqual(['20', '20'])

      /** Each author's marks: the names on hover and the background colours. */
      const marks = () =>
        owner.page.locator('.cm-author').evaluateAll((elements) =>
          elements.map((element) => ({
            text: element.textContent,
            title: element.getAttribute('title'),
            background: getComputedStyle(element).backgroundColor,
          })),
        )
      await waitFor(async () => new Set((await marks()).map((m) => m.title)).size === 2, 'two authors marked')
      const shown = await marks()
      expect(byTitleOf(shown, 'Ada')).toBe('Ada wrote this line.')
      expect(byTitleOf(shown, 'Bob')).toBe('Bob wrote this one.')
      const background = (title: string) => shown.find((m) => m.title === title)?.background
      expect(background('Ada')).not.toBe(background('Bob'))
      await owner.screenshot('authors-two-writers-light')

      // It follows live edits: Bob's next words are coloured as his.
      await bob.typeAtEnd(' More from Bob.')
      await waitFor(
        async () => byTitleOf(await marks(), 'Bob').includes('More from Bob.'),
        'the new text to be coloured as Bob’s',
      )

      // Remembered in this browser: on after a reload.
      await owner.page.reload()
      await owner.ready()
      expect(await owner.page.getByRole('button', { name: 'Authors' }).getAttribute('aria-pressed')).toBe(
        'true',
      )
      await owner.page.locator('.cm-authors-legend .cm-authors-entry').nth(1).waitFor()
      await owner.page.getByRole('button', { name: 'Authors' }).click()
      expect(await owner.page.locator('.cm-authors-legend').count()).toBe(0)
      expect(await owner.page.locator('.cm-author').count()).toBe(0)
    },
    TEST_TIMEOUT,
  )
})

/** The text of the marks titled `title`, joined. */
function byTitleOf(
  marks: ReadonlyArray<{ text: string | null; title: string | null }>,
  title: string,
): string {
  return marks
    .filter((m) => m.title === title)
    .map((m) => m.text)
    .join('')
}
