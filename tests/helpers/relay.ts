/**
 * Test helpers for the relay: a real server on port 0 with a real SQLite file in a temp dir, stock
 * y-websocket providers as clients, and condition polling (never fixed sleeps as assertions).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach } from 'vitest'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { createServer, type ServerConfig, type TandemServer } from '../../server/index.ts'
import { RawPeer } from './raw-peer.ts'

/** A fresh temp directory, removed by the returned cleanup. */
export function makeTempDir(prefix = 'tandem-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface TestServer {
  server: TandemServer
  port: number
  url: string
  db: string
  close(): Promise<void>
}

/** Starts a real server on 127.0.0.1:0 with SQLite at `db` (a temp file unless given). */
export async function startServer(
  options: Partial<ServerConfig> & { db?: string } = {},
): Promise<TestServer> {
  const temp = options.db ? null : makeTempDir()
  const db = options.db ?? join(temp!.dir, 'tandem.db')
  const config: Partial<ServerConfig> = {
    port: 0,
    host: '127.0.0.1',
    logger: pino({ level: process.env.TEST_LOG ?? 'silent' }),
    roomUnloadDelayMs: 200,
    ...options,
  }
  if (config.storage !== 'memory' && !config.store && !config.databaseUrl) config.db = db
  const server = createServer(config)
  const { port } = await server.listen()
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    db,
    async close() {
      await server.close()
      temp?.cleanup()
    },
  }
}

export interface TestClient {
  doc: Y.Doc
  text: Y.Text
  provider: WebsocketProvider
  destroy(): void
}

/** A stock y-websocket provider (Node, `ws` polyfill) on `room`, with its own Y.Doc. */
export function connectClient(
  url: string,
  room: string,
  options: { connect?: boolean; params?: Record<string, string>; doc?: Y.Doc } = {},
): TestClient {
  const doc = options.doc ?? new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect: options.connect ?? true,
    params: options.params,
    disableBc: true,
    maxBackoffTime: 200,
  })
  return {
    doc,
    text: doc.getText('text'),
    provider,
    destroy() {
      provider.destroy()
      doc.destroy()
    },
  }
}

/** Records the code of every close the stock provider sees, in order. */
export function closeCodes(client: TestClient): number[] {
  const codes: number[] = []
  client.provider.on('connection-close', (event) => {
    if (event) codes.push(event.code)
  })
  return codes
}

/** Resolves once `provider` has completed a sync with the server. */
export function synced(client: TestClient): Promise<void> {
  if (client.provider.synced) return Promise.resolve()
  return new Promise((resolve) => client.provider.once('sync', () => resolve()))
}

/** Polls `condition` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Waits until every client's text equals the first one's, and returns it. */
export async function converged(clients: TestClient[], what = 'clients to converge'): Promise<string> {
  await waitFor(() => clients.every((c) => c.text.toString() === clients[0].text.toString()), what)
  return clients[0].text.toString()
}

/**
 * Runs `server/main.ts` in a child process on a free port with SQLite at `db` (or, with `db` null,
 * whatever `extraArgs` choose, e.g. `--database-url`), and resolves once its "listening" log line
 * names the port. Kill it with `process.kill(...)`; `stop()` SIGKILLs it if it is still running
 * (for teardown).
 */
export async function spawnServer(
  db: string | null,
  extraArgs: string[] = [],
): Promise<{ process: ChildProcess; port: number; stop(): void }> {
  const args = [
    '--import',
    'tsx',
    'server/main.ts',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    ...(db === null ? [] : ['--db', db]),
    '--static-dir',
    '',
    ...extraArgs,
  ]
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LOG_FORMAT: 'json' },
  })
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) if (line.includes('"listening"')) resolve(JSON.parse(line).port)
    })
    child.once('exit', (code) => reject(new Error(`server exited early with ${code}`)))
  })
  return { process: child, port, stop }
}

/** A list of teardown steps that run after each test, last registered first. */
export function cleanupAfterEach(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })
  return cleanups
}

/**
 * Starts servers, stock clients and raw peers that `cleanups` (from cleanupAfterEach) closes after
 * each test.
 */
export function tracked(cleanups: Array<() => unknown>) {
  return {
    async start(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
      const server = await startServer(options)
      cleanups.push(() => server.close())
      return server
    },
    client(url: string, room: string, options: Parameters<typeof connectClient>[2] = {}): TestClient {
      const client = connectClient(url, room, options)
      cleanups.push(() => client.destroy())
      return client
    },
    raw(url: string, path: string): RawPeer {
      const peer = new RawPeer(url, path)
      cleanups.push(() => peer.close())
      return peer
    },
  }
}
