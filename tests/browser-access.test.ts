/**
 * Access control in real Chromium against the real server (port 0, temp SQLite, an auth secret)
 * serving a fresh production build: the owner's Share mints edit and view links that work, a view
 * link is visibly read-only yet live, the room's mode turns an open editor read-only and back
 * without a reload, revoked, expired, cut-short and other-room links show why instead of the editor,
 * and an open editor whose link is revoked or expires says so and stops. No page may report a
 * Content-Security-Policy violation. Screenshots go to tests/screenshots/ (git-ignored).
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { signRoomToken } from '../server/auth/tokens.ts'
import { AppPage, browserSkipReason, buildClient, contextOptions, launchChromium } from './helpers/browser.ts'
import { startServer, type TestServer } from './helpers/relay.ts'

const skipReason = browserSkipReason()
mkdirSync(fileURLToPath(new URL('./screenshots', import.meta.url)), { recursive: true })

const SECRET = 'browser-access-test-secret-0123456789abcdef'

/** The token in a link's fragment. */
const tokenOf = (url: string) => new URLSearchParams(new URL(url).hash.slice(1)).get('token')!
/** The room of a `/r/<room>` link. */
const roomOf = (url: string) => new URL(url).pathname.replace(/^\/r\//, '')

describe.skipIf(skipReason !== null)('browser access control', () => {
  let browser: Browser
  let server: TestServer
  let cleanupBuild: () => void = () => {}
  let origin: string
  const contexts: BrowserContext[] = []
  /** Every CSP violation any page reported, with the page's URL. */
  const cspViolations: string[] = []

  const newContext = async (options: Parameters<typeof contextOptions>[0] = {}) => {
    const context = await browser.newContext(contextOptions(options))
    context.setDefaultTimeout(20_000)
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        // Playwright's own waitForFunction may evaluate its predicate as a string in the page (no
        // source file); the app has no eval, and any it gained would name its /assets/ file.
        if (event.blockedURI === 'eval' && !event.sourceFile) return
        const where = event.sourceFile ? ` (${event.sourceFile}:${event.lineNumber})` : ''
        console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}${where}`)
      })
    })
    context.on('console', (message) => {
      const text = message.text()
      if (text.startsWith('CSP violation:')) cspViolations.push(`${message.page()?.url()}: ${text}`)
    })
    contexts.push(context)
    return context
  }

  /** Calls the access API as a script would (no browser). */
  const api = async (path: string, init: { method?: string; token?: string; body?: unknown } = {}) => {
    const response = await fetch(`${origin}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body ? JSON.stringify(init.body) : undefined,
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  /** Mints a link for `room` through the API with the admin token. */
  const mint = async (room: string, adminToken: string, access: 'view' | 'edit') => {
    const { status, body } = await api(`/api/rooms/${room}/links`, {
      method: 'POST',
      token: adminToken,
      body: { access, ttlSeconds: 3600 },
    })
    expect(status).toBe(201)
    return body as { url: string; jti: string; token: string }
  }

  /** Opens a link the server refuses: the page, once it says why. */
  const openRefused = async (context: BrowserContext, url: string, code: string): Promise<Page> => {
    const page = await context.newPage()
    await page.goto(url)
    await page.locator(`#app[data-route="refused"][data-refused="${code}"]`).waitFor()
    return page
  }

  /** An owner with a new room (made at `/`), and the room's name and admin token. */
  const newOwner = async () => {
    const owner = await AppPage.open(await newContext(), `${origin}/`)
    const url = owner.page.url()
    expect(url).toMatch(new RegExp(`^${origin}/r/[A-Za-z0-9_-]{22}#token=`))
    await owner.waitForConnection('connected')
    return { owner, room: roomOf(url), adminToken: tokenOf(url) }
  }

  const isReadOnly = (person: AppPage) =>
    person.page
      .locator('.cm-content')
      .evaluate((content) => content.getAttribute('contenteditable') === 'false')

  beforeAll(async () => {
    const [build, launched] = await Promise.all([buildClient(), launchChromium()])
    cleanupBuild = build.cleanup
    browser = launched
    server = await startServer({ staticDir: build.dir, authSecret: SECRET })
    origin = `http://127.0.0.1:${server.port}`
  })

  afterEach(() => {
    // Reported once, by the test during which they happened.
    expect(cspViolations.splice(0)).toEqual([])
  })

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await server?.close()
    cleanupBuild()
  })

  it("the owner's Share makes edit and view links; the view link is read-only and live", async () => {
    const { owner } = await newOwner()
    await owner.rename('Owner')
    await owner.typeAtEnd('# Plans\n\nfrom the owner')
    await owner.waitForSaved()
    expect(await owner.page.locator('#access-badge').isHidden()).toBe(true)

    await owner.page.locator('#share').click()
    const popover = owner.page.locator('#share-popover')
    await popover.locator('[data-share-mint="edit"]').waitFor()
    expect(await popover.locator('[data-share-url]').isHidden()).toBe(true)
    await owner.screenshot('access-share-choices-light')
    await popover.locator('[data-share-mint="edit"]').click()
    await owner.page.locator('#share-popover[data-copied="true"][data-link-access="edit"]').waitFor()
    const editUrl = await owner.page.evaluate(() => navigator.clipboard.readText())
    expect(await popover.locator('[data-share-url]').inputValue()).toBe(editUrl)
    expect(await popover.locator('[data-share-message]').innerText()).toMatch(
      /^Edit link copied\. Anyone with it can edit, until /,
    )
    await popover.locator('[data-share-mint="view"]').click()
    await owner.page.locator('#share-popover[data-copied="true"][data-link-access="view"]').waitFor()
    const viewUrl = await owner.page.evaluate(() => navigator.clipboard.readText())
    expect(await popover.locator('[data-share-message]').innerText()).toMatch(
      /^View link copied\. Anyone with it can read, but not edit/,
    )
    for (const url of [editUrl, viewUrl]) expect(tokenOf(url)).not.toBe(tokenOf(owner.page.url()))
    await owner.page.keyboard.press('Escape')

    const editor = await AppPage.open(await newContext({ dark: true }), editUrl)
    await editor.rename('Editor')
    await editor.waitForText('from the owner')
    expect(await isReadOnly(editor)).toBe(false)
    await editor.typeAtEnd('\nfrom the edit link')
    await owner.waitForText('from the edit link')

    const viewer = await AppPage.open(await newContext({ phone: true }), viewUrl)
    await viewer.rename('Viewer')
    await viewer.waitForText('from the edit link')
    await viewer.page.locator('#access-badge', { hasText: 'View only' }).waitFor({ state: 'visible' })
    expect(await viewer.page.locator('#app').getAttribute('data-access')).toBe('view')
    expect(await isReadOnly(viewer)).toBe(true)
    const before = await viewer.text()
    await viewer.typeAtEnd('typed by the viewer')
    await viewer.page.keyboard.press('Control+z')
    await viewer.page.keyboard.press('Backspace')
    await viewer.page.keyboard.press('Enter')
    expect(await viewer.text()).toBe(before)
    // Edits still arrive live, and the viewer is seen by the others.
    await owner.typeAtEnd('\nlive to the viewer')
    await viewer.waitForText('live to the viewer')
    await owner.page.locator('#presence .person:not(.me) .name', { hasText: 'Viewer' }).waitFor()
    await viewer.waitForConnection('connected')
    await viewer.screenshot('access-view-link-phone-light')
    expect(await owner.text()).not.toContain('typed by the viewer')
    expect(await editor.text()).not.toContain('typed by the viewer')

    // The viewer's Share hands on the view link it has; it cannot make links.
    await viewer.page.locator('#share').click()
    await viewer.page.locator('#share-popover[data-copied="true"]').waitFor()
    expect(tokenOf(await viewer.page.evaluate(() => navigator.clipboard.readText()))).toBe(tokenOf(viewUrl))
    expect(await viewer.page.locator('[data-share-mint="edit"]').isHidden()).toBe(true)
    expect(await viewer.page.locator('[data-share-message]').innerText()).toContain('read, but not edit')

    // A reload of the room's address without the fragment keeps the tab's link.
    await viewer.page.goto(`${origin}/r/${roomOf(viewUrl)}`)
    await viewer.ready()
    await viewer.waitForText('live to the viewer')
    expect(await isReadOnly(viewer)).toBe(true)
  })

  it("the room's mode turns an open editor read-only without a reload, and back", async () => {
    const { owner, room, adminToken } = await newOwner()
    await owner.typeAtEnd('before the freeze')
    const { url } = await mint(room, adminToken, 'edit')
    const editor = await AppPage.open(await newContext({ dark: true }), url)
    await editor.waitForText('before the freeze')
    await editor.waitForConnection('connected')
    const loads: string[] = []
    editor.page.on('load', () => loads.push(editor.page.url()))

    expect(
      await api(`/api/rooms/${room}/mode`, { method: 'PUT', token: adminToken, body: { mode: 'view' } }),
    ).toMatchObject({ status: 200 })
    await editor.page.locator('#access-badge').waitFor({ state: 'visible' })
    expect(await isReadOnly(editor)).toBe(true)
    await editor.typeAtEnd('typed while frozen')
    expect(await editor.text()).toBe('before the freeze')
    // The admin still edits.
    expect(await owner.page.locator('#access-badge').isHidden()).toBe(true)
    await owner.typeAtEnd('\nthe owner still edits')
    await editor.waitForText('the owner still edits')
    await editor.screenshot('access-mode-view-dark')

    expect(
      await api(`/api/rooms/${room}/mode`, { method: 'PUT', token: adminToken, body: { mode: 'edit' } }),
    ).toMatchObject({ status: 200 })
    await editor.page.locator('#access-badge').waitFor({ state: 'hidden' })
    expect(await isReadOnly(editor)).toBe(false)
    await editor.typeAtEnd('\nthawed')
    await owner.waitForText('thawed')
    await editor.waitForConnection('connected')
    expect(loads).toEqual([])
  })

  it('a revoked link ends the open editor without reconnecting, and then shows the revoked page', async () => {
    const { owner, room, adminToken } = await newOwner()
    await owner.typeAtEnd('about to be revoked')
    const link = await mint(room, adminToken, 'edit')
    const context = await newContext()
    const holder = await AppPage.open(context, link.url)
    await holder.waitForText('about to be revoked')
    await holder.waitForConnection('connected')
    let sockets = 0
    holder.page.on('websocket', () => sockets++)

    const revoked = await api(`/api/rooms/${room}/revoke`, {
      method: 'POST',
      token: adminToken,
      body: { jti: link.jti },
    })
    expect(revoked.status).toBe(200)
    const banner = holder.page.locator('#access-ended[data-code="4410"]')
    await banner.waitFor({ state: 'visible' })
    expect(await banner.innerText()).toContain('This link was revoked.')
    await holder.waitForConnection('closed')
    expect(await holder.page.locator('[data-retry]').isHidden()).toBe(true)
    expect(await isReadOnly(holder)).toBe(true)
    await holder.screenshot('access-revoked-open-light')
    // Nothing reconnects: well past the provider's first backoff steps, and after going offline and back.
    await holder.context.setOffline(true)
    await holder.context.setOffline(false)
    await holder.page.waitForTimeout(2500)
    expect(sockets).toBe(0)
    // The owner is undisturbed.
    await owner.typeAtEnd('\nstill here')
    await owner.waitForSaved()

    const page = await openRefused(await newContext({ dark: true }), link.url, 'token_revoked')
    expect(await page.locator('.notice h2').innerText()).toBe('This link was revoked')
    expect(await page.locator('.cm-content').count()).toBe(0)
    await page.screenshot({
      path: fileURLToPath(new URL('./screenshots/access-revoked-page-dark.png', import.meta.url)),
    })
  })

  it('offline, a link opens with the access it last had, and New document asks the server for a room', async () => {
    const { owner, room, adminToken } = await newOwner()
    await owner.typeAtEnd('shared before the trip')
    await owner.waitForSaved()
    const editLink = await mint(room, adminToken, 'edit')
    const viewLink = await mint(room, adminToken, 'view')
    const traveller = await AppPage.open(await newContext({ phone: true }), editLink.url)
    const reader = await AppPage.open(await newContext(), viewLink.url)
    for (const person of [traveller, reader]) {
      await person.waitForText('shared before the trip')
      await person.waitForConnection('connected')
      await person.waitForServiceWorker()
      await person.context.setOffline(true)
      await person.waitForConnection('offline')
      // Reload with no network: the preflight fails, the access the server last granted applies.
      await person.page.reload()
      await person.ready()
      await person.waitForText('shared before the trip')
    }
    expect(await isReadOnly(reader)).toBe(true)
    expect(await reader.page.locator('#access-badge').isVisible()).toBe(true)
    expect(await isReadOnly(traveller)).toBe(false)
    await traveller.typeAtEnd('\nwritten offline')
    await traveller.context.setOffline(false)
    await owner.waitForText('written offline')
    await traveller.waitForSaved()

    const before = owner.page.url()
    await owner.page.locator('#new-doc').click()
    await owner.page.waitForURL((url) => url.href !== before)
    await owner.ready()
    await owner.waitForConnection('connected')
    expect(owner.page.url()).toMatch(new RegExp(`^${origin}/r/[A-Za-z0-9_-]{22}#token=`))
    expect(roomOf(owner.page.url())).not.toBe(room)
    await owner.page.locator('#share').click()
    await owner.page.locator('[data-share-mint="view"]').waitFor()
  })

  it('expired, cut-short and other-room links show why; an editor whose link expires says so', async () => {
    const { owner, room } = await newOwner()
    await owner.typeAtEnd('secret plans')
    await owner.waitForSaved()
    const context = await newContext()
    const expired = await signRoomToken(
      SECRET,
      { room, access: 'edit', ttlSeconds: 60 },
      Date.now() - 3_600_000,
    )
    const page = await openRefused(context, `${origin}/r/${room}#token=${expired.token}`, 'token_expired')
    expect(await page.locator('.notice h2').innerText()).toBe('This link has expired')
    expect(await page.locator('.notice').innerText()).toContain('new link')
    expect(await page.title()).toBe('This link has expired · Tandem')
    await page.screenshot({
      path: fileURLToPath(new URL('./screenshots/access-expired-page-light.png', import.meta.url)),
    })

    const missing = await openRefused(await newContext(), `${origin}/r/${room}`, 'token_missing')
    expect(await missing.locator('.notice h2').innerText()).toMatch(/missing its access key/)
    const other = await signRoomToken(SECRET, { room: 'some-other-room', access: 'edit', ttlSeconds: 600 })
    const wrong = await openRefused(
      await newContext(),
      `${origin}/r/${room}#token=${other.token}`,
      'wrong_room',
    )
    expect(await wrong.locator('.notice h2').innerText()).toBe('This link is for a different document')
    const forged = await openRefused(
      await newContext(),
      `${origin}/r/${room}#token=not.a.token`,
      'token_invalid',
    )
    expect(await forged.locator('.notice h2').innerText()).toBe('This link is not valid')
    for (const refused of [page, missing, wrong, forged])
      expect(await refused.locator('.cm-content').count()).toBe(0)

    const shortLived = await signRoomToken(SECRET, { room, access: 'edit', ttlSeconds: 8 })
    const holder = await AppPage.open(await newContext(), `${origin}/r/${room}#token=${shortLived.token}`)
    await holder.waitForText('secret plans')
    const banner = holder.page.locator('#access-ended[data-code="4401"]')
    await banner.waitFor({ state: 'visible' })
    expect(await banner.innerText()).toContain('This link has expired.')
    await holder.waitForConnection('closed')
    expect(await isReadOnly(holder)).toBe(true)
  })
  it('a link that expires while offline is refused at the reconnect, said once, and not retried', async () => {
    const { owner, room } = await newOwner()
    await owner.typeAtEnd('before the tunnel')
    await owner.waitForSaved()
    const shortLived = await signRoomToken(SECRET, { room, access: 'edit', ttlSeconds: 8 })
    const holder = await AppPage.open(await newContext(), `${origin}/r/${room}#token=${shortLived.token}`)
    await holder.waitForText('before the tunnel')
    await holder.waitForConnection('connected')
    await holder.context.setOffline(true)
    await holder.waitForConnection('offline')
    await holder.page.waitForTimeout(Math.max(0, shortLived.expiresAt - Date.now()) + 500)
    let sockets = 0
    holder.page.on('websocket', () => sockets++)
    // The upgrade is refused with 401, which a browser reports only as a failed socket; the client
    // asks the access API why and stops.
    await holder.context.setOffline(false)
    const banner = holder.page.locator('#access-ended[data-code="token_expired"]')
    await banner.waitFor({ state: 'visible' })
    expect(await banner.innerText()).toContain('This link has expired.')
    await holder.waitForConnection('closed')
    expect(await isReadOnly(holder)).toBe(true)
    const attempts = sockets
    await holder.page.waitForTimeout(3000)
    expect(sockets).toBe(attempts)
    expect(attempts).toBeLessThanOrEqual(3)
  })
})
