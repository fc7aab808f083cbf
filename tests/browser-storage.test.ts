/**
 * The "Not saving" warning in real Chromium against the real server (port 0, SQLite in a temp dir)
 * whose store is made to fail and recover: the warning appears while writes fail, also for someone
 * who joins meanwhile, and goes away on recovery, after which everything typed reaches "Saved".
 * Screenshots go to tests/screenshots/ (git-ignored) for a person to look at.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SqliteStore } from '../server/index.ts'
import { AppPage, browserSkipReason, buildClient, contextOptions, launchChromium } from './helpers/browser.ts'
import { FlakyStore } from './helpers/flaky-store.ts'
import { makeTempDir, startServer, type TestServer, waitFor } from './helpers/relay.ts'

const skipReason = browserSkipReason()
mkdirSync(fileURLToPath(new URL('./screenshots', import.meta.url)), { recursive: true })

const WARNING = '#storage-warning'

describe.skipIf(skipReason !== null)('browser storage warning', () => {
  let browser: Browser
  let server: TestServer
  let store: FlakyStore
  let cleanupBuild: () => void = () => {}
  let cleanupDb: () => void = () => {}
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
    const temp = makeTempDir()
    cleanupDb = temp.cleanup
    store = new FlakyStore(new SqliteStore(join(temp.dir, 'flaky.db')))
    server = await startServer({ staticDir: build.dir, store, storeRetryMinMs: 50, storeRetryMaxMs: 200 })
    origin = `http://127.0.0.1:${server.port}`
  })

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close()
    // A test that failed midway must not leave the final flush retrying forever.
    if (store) store.failing = false
    await server?.close()
    cleanupDb()
    cleanupBuild()
  })

  it('warns while the server cannot store changes, and reaches Saved once it can', async () => {
    const writer = await AppPage.open(await newContext(), `${origin}/`)
    const roomUrl = writer.page.url()
    await writer.typeAtEnd('stored before the failure')
    await writer.waitForSaved()
    await writer.waitForConnection('connected')
    expect(await writer.page.locator(WARNING).isHidden()).toBe(true)

    store.failing = true
    await writer.typeAtEnd('\ntyped while the disk is full')
    await waitFor(() => store.failedAttempts > 0, 'the store to refuse a write')
    await writer.page.locator('[data-sync][data-saved="false"]', { hasText: 'waiting' }).waitFor()
    const warning = writer.page.locator(`${WARNING}[data-storage="failing"]`)
    await warning.waitFor({ state: 'visible' })
    expect(await warning.innerText()).toContain('Not saving: the server cannot store changes right now.')
    expect(await warning.innerText()).toContain('kept in this browser')
    await writer.screenshot('storage-failing-light')

    // Someone joining while the store fails is told right away. The server sends them the document
    // only once what it holds is durable, so their editor stays empty until the store recovers.
    const joiner = await AppPage.open(await newContext({ dark: true, phone: true }), roomUrl)
    await joiner.waitForConnection('connected')
    await joiner.page.locator(`${WARNING}[data-storage="failing"]`).waitFor({ state: 'visible' })
    await joiner.screenshot('storage-failing-phone-dark')

    store.failing = false
    for (const person of [writer, joiner]) {
      await person.page.locator(WARNING).waitFor({ state: 'hidden' })
      await person.page.locator(`${WARNING}[data-storage="ok"]`).waitFor({ state: 'attached' })
    }
    await writer.waitForSaved()
    await joiner.waitForText('stored before the failure\ntyped while the disk is full')
    expect(await writer.statusText()).toContain('Saved')
    expect(await joiner.text()).toBe(await writer.text())
    await writer.screenshot('storage-recovered-light')
  })
})
