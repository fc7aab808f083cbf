/**
 * The live page, `/r/<room>/live`, in real Chromium with WebSockets unavailable (deleted from the
 * page before it runs), against the real server (port 0, a SQLite file in a temp dir) serving a
 * fresh production build: it follows a stock y-websocket client's typing over the change feed
 * alone, shows who is there, and resumes after the network drops (the browser offline and every
 * connection through a TCP proxy cut) and after a restart of the server on the same file, without
 * a second reset, a refetch of the text or a reload. The editor's Share menu offers the page's
 * link, with a view token when the server controls access (a live link without a token shows why
 * it is refused), and opens offline from the editor's service worker.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { AppPage, browserSkipReason, buildClient, contextOptions, launchChromium } from './helpers/browser.ts'
import {
  connectClient,
  makeTempDir,
  startServer,
  synced,
  type TestClient,
  type TestServer,
  waitFor,
} from './helpers/relay.ts'
import { type Backend, TcpProxy } from './helpers/tcp-proxy.ts'

const skipReason = browserSkipReason()
mkdirSync(fileURLToPath(new URL('./screenshots', import.meta.url)), { recursive: true })
const screenshot = (page: Page, name: string) =>
  page.screenshot({ path: fileURLToPath(new URL(`./screenshots/${name}.png`, import.meta.url)) })

/** What the page's EventSources did, recorded by the init script (see `liveContext`). */
interface FeedRecord {
  opened: string[]
  resets: number
  errors: number
}

/** A stock client typing in `room`: the editor's text, and its presence as `name`. */
function typist(url: string, room: string, name: string, color: string) {
  const client = connectClient(url, room)
  client.provider.awareness.setLocalStateField('user', { name, color })
  const text = client.doc.getText('codemirror')
  return {
    client,
    text,
    /** Types `chars` at `index` (the end by default), one update per character, as a person does. */
    async type(chars: string, index = text.length): Promise<void> {
      let at = index
      for (const char of chars) {
        text.insert(at, char)
        at += char.length
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
  }
}

describe.skipIf(skipReason !== null)('live page', () => {
  let browser: Browser
  let server: TestServer
  let proxy: TcpProxy
  /** The proxy's backend: the server's port, changed when it restarts. */
  const backends: Backend[] = [{ host: '127.0.0.1', port: 0 }]
  let origin: string
  let cleanupBuild: () => void = () => {}
  let buildDir: string
  const temp = makeTempDir('tandem-live-')
  const db = join(temp.dir, 'tandem.db')
  const contexts: BrowserContext[] = []
  const clients: TestClient[] = []
  const cspViolations: string[] = []

  const newContext = async () => {
    const context = await browser.newContext(contextOptions())
    context.setDefaultTimeout(20_000)
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        // Playwright's own predicates may be evaluated as strings (no source file); the app has no eval.
        if (event.blockedURI === 'eval' && !event.sourceFile) return
        console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`)
      })
    })
    context.on('console', (message) => {
      if (message.text().startsWith('CSP violation:')) cspViolations.push(message.text())
    })
    contexts.push(context)
    return context
  }

  /** A context whose pages have no WebSocket, and whose EventSources are recorded in `__feed`. */
  const liveContext = async () => {
    const context = await newContext()
    await context.addInitScript(() => {
      // As on a network that blocks WebSockets: the page must not need them.
      delete (window as { WebSocket?: unknown }).WebSocket
      const record = { opened: [] as string[], resets: 0, errors: 0 }
      ;(window as unknown as { __feed: typeof record }).__feed = record
      const Native = window.EventSource
      window.EventSource = class extends Native {
        constructor(url: string | URL, init?: EventSourceInit) {
          super(url, init)
          record.opened.push(String(url))
          this.addEventListener('reset', () => record.resets++)
          this.addEventListener('error', () => record.errors++)
        }
      }
    })
    return context
  }

  /** Opens the live page at `url` and waits for its first text; the page records any WebSocket. */
  const openLive = async (context: BrowserContext, url: string) => {
    const page = await context.newPage()
    const sockets: string[] = []
    page.on('websocket', (socket) => sockets.push(socket.url()))
    await page.goto(url)
    await page.locator('#app[data-ready="true"]').waitFor()
    expect(await page.evaluate(() => typeof WebSocket)).toBe('undefined')
    return { page, sockets }
  }

  const feedRecord = (page: Page) => page.evaluate(() => (window as unknown as { __feed: FeedRecord }).__feed)
  const shownText = (page: Page) => page.locator('#live-text').evaluate((pre) => pre.textContent)
  const waitForText = (page: Page, expected: string) =>
    page.waitForFunction((text) => document.getElementById('live-text')?.textContent === text, expected)
  const waitForStatus = (page: Page, status: string) =>
    page.locator(`#app[data-status="${status}"] [data-connection][data-state="${status}"]`).waitFor()

  const newTypist = (room: string, name: string, color: string) => {
    const person = typist(server.url, room, name, color)
    clients.push(person.client)
    return person
  }

  beforeAll(async () => {
    const [build, launched] = await Promise.all([buildClient(), launchChromium()])
    cleanupBuild = build.cleanup
    buildDir = build.dir
    browser = launched
    server = await startServer({ staticDir: buildDir, db })
    backends[0].port = server.port
    // The browser reaches the server through the proxy, so that its connections can be cut.
    proxy = new TcpProxy(backends)
    origin = `http://127.0.0.1:${await proxy.listen()}`
  })

  afterEach(() => {
    expect(cspViolations.splice(0)).toEqual([])
  })

  afterAll(async () => {
    for (const client of clients) {
      try {
        client.destroy()
      } catch {
        // Destroyed by its test already.
      }
    }
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    await proxy?.close()
    await server?.close()
    cleanupBuild()
    temp.cleanup()
  })

  it("follows a stock client's typing without WebSockets, shows who is there, and resumes after the network drops", async () => {
    const room = `live-${Date.now().toString(36)}`
    const ada = newTypist(room, 'Ada', '#3e63dd')
    await synced(ada.client)
    await ada.type('# Notes\n\nHello 😀 world\n')

    const { page, sockets } = await openLive(await liveContext(), `${origin}/r/${room}/live`)
    await page.evaluate(() => {
      ;(window as unknown as { __marker: string }).__marker = 'the same page'
    })
    await waitForText(page, ada.text.toString())
    await waitForStatus(page, 'live')
    await page.locator('#presence .person .name', { hasText: 'Ada' }).waitFor()
    expect(await page.locator('#presence .swatch').first().getAttribute('style')).toContain(
      'rgb(62, 99, 221)',
    )
    await expect(page.title()).resolves.toBe('Notes · Live · Tandem')

    // Typing, and edits in the middle across astral characters (UTF-16 indexes end to end).
    await ada.type('typed live, é and 👋🏽\n')
    const wave = ada.text.toString().indexOf('😀')
    ada.text.delete(wave, 2)
    await ada.type('🎉', wave)
    await waitForText(page, ada.text.toString())
    await page.locator('[data-last-change]', { hasText: 'by Ada' }).waitFor()

    // Someone joins and leaves.
    const grace = newTypist(room, 'Grace', '#2f9e5c')
    await page.locator('#presence .person .name', { hasText: 'Grace' }).waitFor()
    expect(await page.locator('#presence .person').count()).toBe(2)
    await synced(grace.client)
    await grace.type('Grace was here\n', 0)
    await waitFor(() => ada.text.toString() === grace.text.toString(), 'Ada to see what Grace typed')
    await waitForText(page, ada.text.toString())
    grace.client.destroy()
    await page.waitForFunction(() => document.querySelectorAll('#presence .person').length === 1)
    await screenshot(page, 'live-page-light')

    // The network drops: the browser goes offline and every connection it had is cut.
    const before = await feedRecord(page)
    expect(before.resets).toBe(1)
    await page.context().setOffline(true)
    await waitForStatus(page, 'offline')
    proxy.cut()
    await ada.type('written while the page was offline\n')
    ada.text.delete(0, 'Grace '.length)
    await page.waitForFunction(
      (errors) => (window as unknown as { __feed: FeedRecord }).__feed.errors > errors,
      before.errors,
    )
    expect(await shownText(page)).not.toBe(ada.text.toString())
    await screenshot(page, 'live-page-offline-light')

    // It comes back: the feed resumes from the last id, with what was missed and nothing twice.
    proxy.restore()
    await page.context().setOffline(false)
    await waitForText(page, ada.text.toString())
    await waitForStatus(page, 'live')
    await ada.type('and after\n')
    await waitForText(page, ada.text.toString())
    const after = await feedRecord(page)
    expect(after.resets).toBe(1)
    expect(after.opened[0]).toBe(`/api/rooms/${room}/events`)
    // Any stream the page opened itself resumed from the last id (the browser's own sends Last-Event-ID).
    for (const url of after.opened.slice(1)) expect(url).toMatch(/[?&]lastEventId=\d+$/)
    expect(await page.evaluate(() => (window as unknown as { __marker?: string }).__marker)).toBe(
      'the same page',
    )
    expect(sockets).toEqual([])
  })

  it('resumes across a restart of the server on the same SQLite file', async () => {
    const room = `restart-${Date.now().toString(36)}`
    const ada = newTypist(room, 'Ada', '#3e63dd')
    await synced(ada.client)
    await ada.type('before the restart\n')
    const { page } = await openLive(await liveContext(), `${origin}/r/${room}/live`)
    await page.evaluate(() => {
      ;(window as unknown as { __marker: string }).__marker = 'the same page'
    })
    await waitForText(page, ada.text.toString())
    await waitForStatus(page, 'live')

    const doc = new Y.Doc()
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(ada.client.doc))
    ada.client.destroy()
    await server.close()
    await waitForStatus(page, 'reconnecting')
    server = await startServer({ staticDir: buildDir, db })
    backends[0].port = server.port

    const bob = newTypist(room, 'Bob', '#f76b15')
    await synced(bob.client)
    expect(bob.text.toString()).toBe(doc.getText('codemirror').toString())
    await bob.type('after the restart\n')
    await waitForText(page, bob.text.toString())
    await waitForStatus(page, 'live')
    await page.locator('#presence .person .name', { hasText: 'Bob' }).waitFor()
    expect((await feedRecord(page)).resets).toBe(1)
    expect(await page.evaluate(() => (window as unknown as { __marker?: string }).__marker)).toBe(
      'the same page',
    )
  })

  it("the editor's Share menu offers the live page's link", async () => {
    const editor = await AppPage.open(await newContext(), `${origin}/`)
    await editor.typeAtEnd('# Shared\n\nfrom the editor')
    await editor.waitForSaved()
    const roomUrl = editor.page.url()
    await editor.page.locator('#share').click()
    const live = editor.page.locator('[data-share-live]')
    await expect(live.innerText()).resolves.toBe('Live view (read-only, no WebSocket)')
    await live.click()
    await editor.page.locator('#share-popover[data-copied="true"][data-link-access="live"]').waitFor()
    const liveLink = await editor.page.evaluate(() => navigator.clipboard.readText())
    expect(liveLink).toBe(`${roomUrl}/live`)
    expect(await editor.page.locator('[data-share-url]').inputValue()).toBe(liveLink)

    const { page } = await openLive(await liveContext(), liveLink)
    await waitForText(page, '# Shared\n\nfrom the editor')
    await editor.typeAtEnd('\nlive to the page')
    await waitForText(page, '# Shared\n\nfrom the editor\nlive to the page')
    expect(await page.locator('#open-editor').getAttribute('href')).toBe(roomUrl)

    // Where the editor installed its service worker, the live page opens offline too, and catches up.
    await editor.waitForServiceWorker()
    await editor.context.setOffline(true)
    const offline = await editor.context.newPage()
    await offline.goto(liveLink)
    await waitForStatus(offline, 'offline')
    await editor.context.setOffline(false)
    await waitForText(offline, '# Shared\n\nfrom the editor\nlive to the page')
    await waitForStatus(offline, 'live')
  })

  it('with access control, Share mints a view link for the live page; a live link without one is refused', async () => {
    const secure = await startServer({
      staticDir: buildDir,
      authSecret: 'browser-live-test-secret-0123456789abcdef',
    })
    try {
      const secureOrigin = `http://127.0.0.1:${secure.port}`
      const owner = await AppPage.open(await newContext(), `${secureOrigin}/`)
      await owner.rename('Owner')
      await owner.typeAtEnd('owner only')
      await owner.waitForSaved()
      const ownerToken = new URLSearchParams(new URL(owner.page.url()).hash.slice(1)).get('token')
      await owner.page.locator('#share').click()
      await owner.page.locator('[data-share-live]').click()
      await owner.page.locator('#share-popover[data-copied="true"][data-link-access="live"]').waitFor()
      const liveLink = await owner.page.evaluate(() => navigator.clipboard.readText())
      expect(liveLink).toMatch(new RegExp(`^${secureOrigin}/r/[A-Za-z0-9_-]{22}/live#token=`))
      const token = new URLSearchParams(new URL(liveLink).hash.slice(1)).get('token')
      expect(token).not.toBe(ownerToken)
      expect(await owner.page.locator('[data-share-message]').innerText()).toContain('can read, but not edit')

      const { page } = await openLive(await liveContext(), liveLink)
      await waitForText(page, 'owner only')
      await page.locator('#presence .person .name', { hasText: 'Owner' }).waitFor()
      await owner.typeAtEnd(', and live')
      await waitForText(page, 'owner only, and live')
      // The editor link carries the same (view) token.
      expect(await page.locator('#open-editor').getAttribute('href')).toBe(liveLink.replace('/live#', '#'))

      const stranger = await (await liveContext()).newPage()
      await stranger.goto(new URL(liveLink).href.replace(/#.*$/, ''))
      await stranger.locator('#app[data-route="refused"][data-refused="token_missing"]').waitFor()
      expect(await stranger.locator('.notice h2').innerText()).toBe('This link is missing its access key')
    } finally {
      await secure.close()
    }
  })
})
