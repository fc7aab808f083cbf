/**
 * The editor in real Chromium against the real server (port 0, temp SQLite) serving a fresh production
 * build: live text, cursors and presence between people, the share link, offline editing with a
 * reload while offline, and room isolation. One browser, a context per person; screenshots go to
 * tests/screenshots/ (git-ignored) for a person to look at.
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppPage, browserSkipReason, buildClient, contextOptions, launchChromium } from './helpers/browser.ts'
import { startServer, type TestServer } from './helpers/relay.ts'

const skipReason = browserSkipReason()
mkdirSync(fileURLToPath(new URL('./screenshots', import.meta.url)), { recursive: true })

describe.skipIf(skipReason !== null)('browser editor', () => {
  let browser: Browser
  let server: TestServer
  let cleanupBuild: () => void = () => {}
  let origin: string
  const contexts: BrowserContext[] = []

  const newContext = async (options: Parameters<typeof contextOptions>[0] = {}) => {
    const context = await browser.newContext(contextOptions(options))
    // Generous, but shorter than the test timeout so a stuck wait names its step.
    context.setDefaultTimeout(20_000)
    contexts.push(context)
    return context
  }

  beforeAll(async () => {
    const [build, launched] = await Promise.all([buildClient(), launchChromium()])
    cleanupBuild = build.cleanup
    browser = launched
    server = await startServer({ staticDir: build.dir })
    origin = `http://127.0.0.1:${server.port}`
  })

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await server?.close()
    cleanupBuild()
  })

  it('shares text, cursors and presence between two people, and the share link opens the document', async () => {
    const alice = await AppPage.open(await newContext(), `${origin}/`)
    const roomUrl = alice.page.url()
    expect(roomUrl).toMatch(new RegExp(`^${origin}/r/[A-Za-z0-9_-]{22}$`))
    await alice.rename('Alice')
    await alice.typeAtEnd('# Trip plan\n\nHello from Alice')
    await alice.waitForSaved()

    const bob = await AppPage.open(await newContext({ dark: true }), roomUrl)
    await bob.rename('Bob')
    await bob.waitForText('Hello from Alice')
    await bob.typeAtEnd('\nBob was here')
    await alice.waitForText('Bob was here')
    // Alice moves her caret so Bob sees it with her name.
    await alice.page.keyboard.press('Control+Home')
    await bob.page.locator('.cm-ySelectionInfo', { hasText: 'Alice' }).waitFor()
    await alice.page.locator('.cm-ySelectionInfo', { hasText: 'Bob' }).waitFor()
    await bob.page.locator('#presence .person:not(.me) .name', { hasText: 'Alice' }).waitFor()
    await alice.page.locator('#presence .person:not(.me) .name', { hasText: 'Bob' }).waitFor()
    expect(await bob.page.locator('#presence .person').count()).toBe(2)
    expect(await bob.page.locator('#presence .me .name-input').inputValue()).toBe('Bob')
    await expect(alice.page.title()).resolves.toBe('Trip plan · Tandem')
    await expect(bob.page.locator('#doc-title').innerText()).resolves.toBe('Trip plan')
    // Undo takes back only Alice's own typing, never Bob's.
    await alice.typeAtEnd('\nOops')
    await bob.waitForText('Oops')
    await alice.page.keyboard.press('Control+z')
    await bob.page.waitForFunction(
      () => !document.querySelector('.cm-content')?.textContent?.includes('Oops'),
    )
    expect(await alice.text()).toContain('Bob was here')
    await alice.page.keyboard.press('Control+Home')
    await alice.waitForSaved()
    await bob.waitForSaved()

    await alice.page.locator('#share').click()
    await alice.page.locator('#share-popover[data-copied="true"]').waitFor()
    const copied = await alice.page.evaluate(() => navigator.clipboard.readText())
    expect(copied).toBe(roomUrl)
    expect(await alice.page.locator('[data-share-url]').inputValue()).toBe(roomUrl)
    await alice.screenshot('collab-alice-light')
    await bob.screenshot('collab-bob-dark')

    const carol = await AppPage.open(await newContext({ dark: true, phone: true }), copied)
    await carol.waitForText('Hello from Alice\nBob was here')
    await carol.page.locator('#presence .person').nth(2).waitFor()
    await carol.screenshot('share-carol-phone-dark')
  })

  it('converges after one side edits offline, and keeps offline edits across a reload', async () => {
    const online = await AppPage.open(await newContext(), `${origin}/`)
    const roomUrl = online.page.url()
    await online.typeAtEnd('shared line')
    await online.waitForSaved()
    const traveller = await AppPage.open(await newContext({ phone: true }), roomUrl)
    await traveller.waitForText('shared line')
    await traveller.waitForConnection('connected')
    await traveller.waitForServiceWorker()

    await traveller.context.setOffline(true)
    await traveller.waitForConnection('offline')
    await traveller.typeAtEnd('\nwritten on the train')
    await online.typeAtEnd('\nwritten at the office')
    await traveller.page.locator('[data-sync][data-saved="false"]', { hasText: 'waiting' }).waitFor()
    await traveller.screenshot('offline-phone-light')

    // Reload with no network: the service worker serves the app, IndexedDB the document.
    await traveller.page.reload()
    await traveller.ready()
    await traveller.waitForText('written on the train')
    await traveller.waitForConnection('offline')
    expect(await traveller.statusText()).toContain('waiting')
    expect(await online.text()).not.toContain('train')
    await traveller.typeAtEnd('\nand after the reload')

    await traveller.context.setOffline(false)
    await traveller.waitForConnection('connected')
    await traveller.waitForSaved()
    const expected = ['shared line', 'written on the train', 'written at the office', 'and after the reload']
    for (const part of expected) {
      await online.waitForText(part)
      await traveller.waitForText(part)
    }
    expect(await traveller.text()).toBe(await online.text())
    await online.waitForSaved()
    await traveller.screenshot('back-online-phone-light')
  })

  it('keeps rooms isolated, and New document starts an empty room', async () => {
    const first = await AppPage.open(await newContext(), `${origin}/`)
    const second = await AppPage.open(await newContext({ dark: true }), `${origin}/`)
    expect(first.page.url()).not.toBe(second.page.url())
    await first.typeAtEnd('only in the first room')
    await second.typeAtEnd('only in the second room')
    await first.waitForSaved()
    await second.waitForSaved()
    // A third person in the first room sees its text and nothing of the second's. Their browser has
    // no Clipboard API, so Share shows the link to copy by hand.
    const visitorContext = await newContext()
    await visitorContext.addInitScript(() =>
      Object.defineProperty(navigator, 'clipboard', { value: undefined }),
    )
    const visitor = await AppPage.open(visitorContext, first.page.url())
    await visitor.waitForText('only in the first room')
    await visitor.waitForConnection('connected')
    expect(await visitor.text()).not.toContain('second')
    await visitor.page.locator('#share').click()
    await visitor.page.locator('#share-popover[data-copied="false"]').waitFor()
    expect(await visitor.page.locator('[data-share-url]').inputValue()).toBe(first.page.url())
    await visitor.screenshot('share-fallback-light')
    expect(await first.text()).not.toContain('second')
    expect(await second.text()).not.toContain('first')

    const before = second.page.url()
    await second.page.locator('#new-doc').click()
    await second.page.waitForURL((url) => url.href !== before)
    await second.ready()
    await second.waitForConnection('connected')
    expect(await second.text()).toBe('')
    await second.screenshot('new-document-dark')
  })
})
