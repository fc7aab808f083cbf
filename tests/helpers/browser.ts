/**
 * Helpers for tests in a real browser: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), a production build of the client in a temp dir, and the real server serving
 * it. Outside CI the browser tests skip with a printed reason when Chromium is missing; in CI
 * (`CI` set) they run and fail instead.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core'
import type { ServerConfig } from '../../server/index.ts'
import { startServer, type TestServer } from './relay.ts'

export const CHROMIUM_PATH = '/usr/bin/chromium'

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** Null when the browser tests can run here, otherwise why they are skipped. Throws in CI. */
export function browserSkipReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null
  const reason = `${CHROMIUM_PATH} is missing (apt-get install chromium)`
  if (process.env.CI) throw new Error(`browser tests must run in CI but ${reason}`)
  console.warn(`skipping browser tests: ${reason}`)
  return reason
}

/** Launches headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS })
}

/** Builds the client (vite build, production mode) into a fresh temp dir; returns it and its cleanup. */
export async function buildClient(): Promise<{ dir: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-client-'))
  const { build } = await import('vite')
  // Vitest sets NODE_ENV=test, which would make Vite build with import.meta.env.PROD false (no service
  // worker); the tests must see what `npm start` serves.
  const nodeEnv = process.env.NODE_ENV
  process.env.NODE_ENV = 'production'
  try {
    await build({
      configFile: join(repoRoot, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'error',
      build: { outDir: dir, emptyOutDir: true },
    })
  } finally {
    process.env.NODE_ENV = nodeEnv
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The real server (port 0, temp SQLite, `options`) serving the built client in `staticDir`. */
export function startAppServer(staticDir: string, options: Partial<ServerConfig> = {}): Promise<TestServer> {
  return startServer({ ...options, staticDir })
}

/** One Chromium and the real server serving a fresh production build, shared by a test file. */
export interface BrowserApp {
  browser: Browser
  server: TestServer
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** A new context (see contextOptions) with a 20 s default timeout, closed by `close`. */
  newContext(options?: Parameters<typeof contextOptions>[0]): Promise<BrowserContext>
  /** Closes every context, the browser and the server, and removes the build. */
  close(): Promise<void>
}

/** Builds the client, launches Chromium and starts the real server (with `options`) serving the build. */
export async function startBrowserApp(options: Partial<ServerConfig> = {}): Promise<BrowserApp> {
  const [build, browser] = await Promise.all([buildClient(), launchChromium()])
  const server = await startAppServer(build.dir, options)
  const contexts: BrowserContext[] = []
  return {
    browser,
    server,
    origin: `http://127.0.0.1:${server.port}`,
    async newContext(options = {}) {
      const context = await browser.newContext(contextOptions(options))
      // Generous, but shorter than the test timeout so a stuck wait names its step.
      context.setDefaultTimeout(20_000)
      contexts.push(context)
      return context
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {})
      await browser.close()
      await server.close()
      build.cleanup()
    },
  }
}

/** Options for a context that can use the clipboard; `dark` emulates the system's dark mode. */
export function contextOptions({ dark = false, phone = false } = {}): BrowserContextOptions {
  return {
    colorScheme: dark ? 'dark' : 'light',
    viewport: phone ? { width: 390, height: 760 } : { width: 1100, height: 680 },
    deviceScaleFactor: 1,
    permissions: ['clipboard-read', 'clipboard-write'],
  }
}

/** Runs in the page: the editor's text, leaving out widgets (remote carets, the placeholder). */
function shownText(): string {
  return [...document.querySelectorAll('.cm-content .cm-line')]
    .map((line) => {
      const copy = line.cloneNode(true) as HTMLElement
      for (const widget of copy.querySelectorAll('.cm-ySelectionCaret, .cm-placeholder, .cm-widgetBuffer')) {
        widget.remove()
      }
      return copy.textContent
    })
    .join('\n')
}

/** An open page with the app, and what the tests ask of it. */
export class AppPage {
  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  /** Opens `url` in a new page of `context` and waits until the editor is mounted. */
  static async open(context: BrowserContext, url: string): Promise<AppPage> {
    const page = await context.newPage()
    const app = new AppPage(context, page)
    await page.goto(url)
    await app.ready()
    return app
  }

  async ready(): Promise<void> {
    await this.page.locator('#app[data-ready="true"] .cm-content').waitFor()
  }

  /** The document text as CodeMirror shows it (lines joined with \n, without carets or placeholder). */
  text(): Promise<string> {
    return this.page.evaluate(shownText)
  }

  /**
   * Waits until the shown text contains `part`. The predicate string is evaluated once, inside
   * Playwright's own call, and yields a function that later polls reuse: a string predicate would be
   * re-evaluated on every poll with the page's `eval`, which the page's Content-Security-Policy (no
   * 'unsafe-eval') refuses now and then with an EvalError.
   */
  async waitForText(part: string): Promise<void> {
    await this.page.waitForFunction(`(part) => (${shownText.toString()})().includes(part)`, part)
  }

  /** Types at the end of the document. */
  async typeAtEnd(text: string): Promise<void> {
    await this.page.locator('.cm-content').click()
    await this.page.keyboard.press('Control+End')
    await this.page.keyboard.type(text)
  }

  /** Waits until the service worker that serves the app shell offline is active. */
  async waitForServiceWorker(): Promise<void> {
    await this.page.waitForFunction(async () => {
      const registration = await navigator.serviceWorker.getRegistration()
      return registration?.active?.state === 'activated'
    })
  }

  async rename(name: string): Promise<void> {
    const input = this.page.locator('.name-input')
    await input.fill(name)
    await input.press('Enter')
  }

  /** Waits until the connection status is `state` (connected, offline, reconnecting...). */
  async waitForConnection(state: string): Promise<void> {
    await this.page.locator(`[data-connection][data-state="${state}"]`).waitFor()
  }

  /** Waits until the status says Saved. */
  async waitForSaved(): Promise<void> {
    await this.page.locator('[data-sync][data-saved="true"]').waitFor()
  }

  statusText(): Promise<string> {
    return this.page.locator('#status').innerText()
  }

  async screenshot(name: string): Promise<void> {
    await this.page.screenshot({ path: join(repoRoot, 'tests', 'screenshots', `${name}.png`) })
  }
}
