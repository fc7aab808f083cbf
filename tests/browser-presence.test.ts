/**
 * Hostile presence in real Chromium (issue #19, class 5): a remote awareness state whose colour
 * carries more CSS must not reach a style attribute. The server refuses such states
 * (relay-presence-shape.test.ts), so the state is put into the page's own WebSocket here, as a
 * server that skipped the check (an older instance behind the same bus, say) would relay it;
 * y-websocket and y-codemirror.next then handle it exactly as they would one from the relay.
 */
import type { WebSocketRoute } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { TEXT_NAME } from '../client/src/editor.ts'
import { AppPage, type BrowserApp, browserSkipReason, startBrowserApp } from './helpers/browser.ts'
import { awarenessFrame } from './helpers/hostile.ts'
import { connectClient, synced, waitFor } from './helpers/relay.ts'

const skipReason = browserSkipReason()
const MESSAGE_AWARENESS = 1
const HOSTILE_ID = 7_070_707
/** Lays the caret, fixed and on top, over the whole page: a fake page of the attacker's. */
const OVERLAY = 'red; position:fixed; inset:0; z-index:9999; background:#123456'
const HOSTILE_NAME = 'Session expired <img src=x>'

/**
 * Runs in the page: every declaration in the style attributes of remote carets and selections, as
 * `property: value` (CodeMirror sets a mark's style through the CSSOM, so values come normalised).
 */
function remoteDeclarations(): string[] {
  const elements = document.querySelectorAll('.cm-ySelectionCaret, .cm-ySelection, .cm-yLineSelection')
  return [...elements].flatMap((element) => {
    const style = (element as HTMLElement).style
    return [...style].map((property) => `${property}: ${style.getPropertyValue(property)}`)
  })
}

/**
 * Runs in the page: the classes of what is shown (and of its ancestors) at the middle of the first
 * line of text, and at the page's top left corner, outside the editor.
 */
function classesShown(): { firstLine: string[]; corner: string[] } {
  const classesAt = (x: number, y: number) => {
    const classes: string[] = []
    for (let element = document.elementFromPoint(x, y); element; element = element.parentElement) {
      classes.push(...element.classList)
    }
    return classes
  }
  const line = document.querySelector('.cm-content .cm-line')!.getBoundingClientRect()
  return {
    firstLine: classesAt(line.left + line.width / 2, line.top + line.height / 2),
    corner: classesAt(2, 2),
  }
}

describe.skipIf(skipReason !== null)('browser presence', () => {
  let app: BrowserApp

  beforeAll(async () => {
    app = await startBrowserApp()
  })

  afterAll(() => app?.close())

  it('shows a hostile remote colour as grey, as text colour only, and nothing covers the editor', async () => {
    const context = await app.newContext()
    // Every frame passes through, until the injection: then the page's own awareness frames stop
    // at the route (y-websocket echoes every remote change it applies to the server).
    const routes: WebSocketRoute[] = []
    let injected = false
    await context.routeWebSocket(/.*/, (route) => {
      const relay = route.connectToServer()
      route.onMessage((message) => {
        if (injected && typeof message !== 'string' && message[0] === MESSAGE_AWARENESS) return
        relay.send(message)
      })
      relay.onMessage((message) => route.send(message))
      routes.push(route)
    })
    const alice = await AppPage.open(context, `${app.origin}/`)
    await alice.typeAtEnd('# Notes\n\nFirst line of the shared notes')
    await alice.waitForSaved()

    // A peer in the room points its caret into the text.
    const room = new URL(alice.page.url()).pathname.split('/').pop()!
    const peer = connectClient(app.server.url, room)
    try {
      await synced(peer)
      const text = peer.doc.getText(TEXT_NAME)
      await waitFor(() => text.toString().includes('shared notes'), 'the peer to get the text')
      const at = (index: number) =>
        JSON.parse(JSON.stringify(Y.createRelativePositionFromTypeIndex(text, index)))
      const cursor = { anchor: at(2), head: at(7) }
      const state = { user: { name: HOSTILE_NAME, color: OVERLAY, colorLight: OVERLAY }, cursor }
      injected = true
      for (const route of routes) {
        route.send(
          Buffer.from(awarenessFrame([{ clientID: HOSTILE_ID, clock: 1, json: JSON.stringify(state) }])),
        )
      }
    } finally {
      peer.destroy()
    }

    const page = alice.page
    await page.locator('.cm-ySelectionCaret').waitFor({ state: 'attached' })
    await page.locator(`#presence .person[data-client="${HOSTILE_ID}"]`).waitFor()
    await alice.screenshot('presence-hostile-colour')
    // Nothing of the peer's lies over the text or the page.
    const shown = await page.evaluate(classesShown)
    expect(shown.firstLine).toContain('cm-line')
    expect(shown.firstLine).not.toContain('cm-ySelectionCaret')
    expect(shown.corner).not.toContain('cm-editor')
    // The caret (background and border) and the selection, in grey, and nothing else.
    const declarations = new Set(await page.evaluate(remoteDeclarations))
    expect([...declarations].sort()).toEqual([
      'background-color: rgb(136, 136, 136)',
      'background-color: rgba(136, 136, 136, 0.2)',
      'border-bottom-color: rgb(136, 136, 136)',
      'border-left-color: rgb(136, 136, 136)',
      'border-right-color: rgb(136, 136, 136)',
      'border-top-color: rgb(136, 136, 136)',
    ])
    // The name is text, never markup.
    await expect(page.locator('.cm-ySelectionInfo').textContent()).resolves.toBe(HOSTILE_NAME)
    expect(await page.locator('#editor img:not(.cm-widgetBuffer), #presence img').count()).toBe(0)
    await expect(page.locator(`#presence [data-client="${HOSTILE_ID}"] .name`).textContent()).resolves.toBe(
      HOSTILE_NAME,
    )
  })
})
