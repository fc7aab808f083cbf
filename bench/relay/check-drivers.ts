/**
 * Trust check for the generator's protocol drivers: the system's own stock client (y-websocket's
 * WebsocketProvider, or Hocuspocus' HocuspocusProvider) joins a room, the generator's clients edit
 * its shared text (trace replay, applying each other's updates), and afterwards the stock client's
 * text and every generator client's text must be the same. With several server instances, the
 * stock client is on the first and the generator's clients alternate between them, so the check
 * also shows that updates cross from one instance to the other.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HocuspocusProvider } from '@hocuspocus/provider'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { SHARED_TEXT } from './edit-script.ts'
import type { RunResult } from './generator.ts'
import { GeneratorProcess } from './generator-process.ts'
import { type SystemSpec, serverPlacement, startSystem } from './systems.ts'
import type { Context } from './workloads.ts'

const ROOM = 'check-0'

/** Resolves with the length of the text they converged on; throws if they did not converge. */
export async function checkDriver(ctx: Context, spec: SystemSpec): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-check-'))
  const system = await startSystem(spec, dir, ctx.paths, ctx.pin)
  const generator = new GeneratorProcess(
    ctx.paths.generator,
    serverPlacement(ctx.pin, spec.instances ?? 1)?.generator ?? null,
  )
  const doc = new Y.Doc()
  let disconnect = (): void => {}
  try {
    if (spec.dialect === 'hocuspocus') {
      // The provider hands WebSocketPolyfill on to the socket it creates; its types only list it there.
      const config = { url: system.base, name: ROOM, document: doc, WebSocketPolyfill: WebSocket }
      const provider = new HocuspocusProvider(config as ConstructorParameters<typeof HocuspocusProvider>[0])
      disconnect = () => provider.destroy()
      await waitFor(() => provider.isSynced, 'stock Hocuspocus provider sync')
    } else {
      const provider = new WebsocketProvider(system.base, ROOM, doc, {
        WebSocketPolyfill: WebSocket as never,
      })
      disconnect = () => provider.destroy()
      // The raw relay answers no sync request: for it, an open socket is as far as the handshake goes.
      await waitFor(
        () => provider.synced || (spec.name === 'raw-relay' && provider.wsconnected),
        'stock provider sync',
      )
    }
    await generator.request(
      {
        cmd: 'connect',
        bases: system.bases,
        dialect: spec.dialect,
        rooms: [ROOM],
        clientsPerRoom: 3,
        presence: true,
        serverSyncs: spec.serverSyncs,
        script: ctx.script,
      },
      'connected',
      20_000,
    )
    const result = await generator.request<RunResult>(
      { cmd: 'run', editsPerSec: 10, awarenessPerSec: 2, warmupMs: 0, measureMs: 1_000, graceMs: 500 },
      'result',
      20_000,
    )
    if (result.edits === 0) throw new Error(`${spec.name}: the generator made no edits`)
    const text = doc.getText(SHARED_TEXT)
    let texts: string[] = []
    const converged = async (): Promise<boolean> => {
      texts = (await generator.request<{ type: string; texts: string[] }>({ cmd: 'texts' }, 'texts', 5_000))
        .texts
      return texts.every((t) => t === text.toString())
    }
    const deadline = Date.now() + 3_000
    while (!(await converged()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    if (!texts.every((t) => t === text.toString()) || text.length === 0) {
      throw new Error(
        `${spec.name}: texts differ after ${result.edits} edits: stock client ${text.length} chars, ` +
          `generator clients ${texts.map((t) => t.length).join(', ')}`,
      )
    }
    return text.length
  } finally {
    disconnect()
    await generator.close()
    await system.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
