/**
 * The built client as the server sends it (`server/http/static-files.ts`, sirv): a temp directory with a
 * fake build (the shell, a service worker, a hashed asset with the .br/.gz siblings the client build
 * writes) served by the real server on port 0. Encodings follow Accept-Encoding, every answer
 * carries the security headers, hashed assets are immutable while the shell revalidates, and
 * nothing outside the directory or unknown to it is served.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import { beforeAll, describe, expect, it } from 'vitest'
import { precompressDirectory } from '../client/build/precompress-plugin.ts'
import { contentSecurityPolicy } from '../server/http/security-headers.ts'
import { cleanupAfterEach, makeTempDir, startServer, type TestServer } from './helpers/relay.ts'

const cleanups = cleanupAfterEach()
const SHELL =
  '<!doctype html><title>Tandem</title><script type="module" src="/assets/app-abc123.js"></script>'
const SERVICE_WORKER = 'self.addEventListener("fetch", () => {})\n'
/** ~10 KB of script, compressible like a real bundle. */
const ASSET = Array.from(
  { length: 200 },
  (_, i) => `export const value${i} = 'line ${i} of the bundle'\n`,
).join('')
const SECRET = 'outside the static directory'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** A raw HTTP request: the path is sent exactly as given (no normalisation), nothing is decoded. */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

let dir: string
let compressed: number

beforeAll(async () => {
  const temp = makeTempDir('tandem-static-')
  // The server is given `<temp>/public`; `<temp>/secret.txt` must stay out of reach.
  dir = join(temp.dir, 'public')
  mkdirSync(join(dir, 'assets'), { recursive: true })
  writeFileSync(join(temp.dir, 'secret.txt'), SECRET)
  writeFileSync(join(dir, 'index.html'), SHELL)
  writeFileSync(join(dir, 'sw.js'), SERVICE_WORKER)
  writeFileSync(join(dir, 'assets/app-abc123.js'), ASSET)
  compressed = await precompressDirectory(dir)
  return temp.cleanup
})

async function serve(): Promise<TestServer> {
  const server = await startServer({ staticDir: dir, storage: 'memory' })
  cleanups.push(() => server.close())
  return server
}

/** The headers every answer of the static handler carries. */
function expectSecurityHeaders(answer: Answer, port: number): void {
  expect(answer.headers['content-security-policy']).toBe(contentSecurityPolicy(`127.0.0.1:${port}`))
  expect(answer.headers['x-content-type-options']).toBe('nosniff')
  expect(answer.headers['referrer-policy']).toBe('no-referrer')
}

describe('the built client', () => {
  it('the build step wrote .br and .gz only for the file over 1 KiB', () => {
    expect(ASSET.length).toBeGreaterThan(9_000)
    expect(compressed).toBe(1)
  })

  it('sends the asset as Brotli, gzip or identity as Accept-Encoding allows, with Vary', async () => {
    const { port } = await serve()
    const path = '/assets/app-abc123.js'
    const br = await get(port, path, { 'accept-encoding': 'gzip, deflate, br, zstd' })
    const gz = await get(port, path, { 'accept-encoding': 'gzip, deflate' })
    const plain = await get(port, path, { 'accept-encoding': 'identity' })
    const none = await get(port, path)
    expect(br.headers['content-encoding']).toBe('br')
    expect(brotliDecompressSync(br.body).toString()).toBe(ASSET)
    expect(br.body.length).toBeLessThan(ASSET.length / 4)
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(gz.body).toString()).toBe(ASSET)
    for (const answer of [plain, none]) {
      expect(answer.headers['content-encoding']).toBeUndefined()
      expect(answer.body.toString()).toBe(ASSET)
    }
    for (const answer of [br, gz, plain, none]) {
      expect(answer.status).toBe(200)
      expect(answer.headers['content-type']).toMatch(/^text\/javascript\b/)
      expect(answer.headers.vary).toBe('Accept-Encoding')
      expect(answer.headers['content-length']).toBe(String(answer.body.length))
      expect(answer.headers['cache-control']).toBe('public, max-age=31536000, immutable')
      expectSecurityHeaders(answer, port)
    }
    // One representation, one validator.
    expect(new Set([br, gz, plain].map((answer) => answer.headers.etag)).size).toBe(3)
  })

  it('answers a matching If-None-Match with 304 and no body, keeping the cache and security headers', async () => {
    const { port } = await serve()
    const path = '/assets/app-abc123.js'
    const first = await get(port, path, { 'accept-encoding': 'br' })
    const etag = first.headers.etag as string
    expect(etag).toBeTruthy()
    const again = await get(port, path, { 'accept-encoding': 'br', 'if-none-match': etag })
    expect(again.status).toBe(304)
    expect(again.body.length).toBe(0)
    expect(again.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(again.headers.vary).toBe('Accept-Encoding')
    expectSecurityHeaders(again, port)
    const stale = await get(port, path, { 'accept-encoding': 'br', 'if-none-match': '"other"' })
    expect(stale.status).toBe(200)
    const shell = await get(port, '/r/some-room')
    expect((await get(port, '/r/other-room', { 'if-none-match': shell.headers.etag as string })).status).toBe(
      304,
    )
  })

  it('serves the shell at / and /r/<room>, revalidated like the service worker; HEAD has no body', async () => {
    const { port } = await serve()
    for (const path of ['/', '/r/some-room', '/r/some-room?x=1', '/index.html']) {
      const answer = await get(port, path, { 'accept-encoding': 'gzip, br' })
      expect(answer.status, path).toBe(200)
      expect(answer.body.toString(), path).toBe(SHELL)
      expect(answer.headers['content-type'], path).toMatch(/^text\/html;\s*charset=utf-8$/)
      expect(answer.headers['cache-control'], path).toBe('no-cache')
      expectSecurityHeaders(answer, port)
    }
    const worker = await get(port, '/sw.js')
    expect(worker.body.toString()).toBe(SERVICE_WORKER)
    expect(worker.headers['cache-control']).toBe('no-cache')
    expectSecurityHeaders(worker, port)
    const head = await get(port, '/assets/app-abc123.js', { 'accept-encoding': 'br' }, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers['content-encoding']).toBe('br')
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0)
    expect(head.body.length).toBe(0)
  })

  it('refuses paths outside the directory, plain or percent-encoded', async () => {
    const { port } = await serve()
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2E%2E/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/r/../../secret.txt',
    ]) {
      const answer = await get(port, path)
      expect(answer.status, path).toBe(404)
      expect(answer.body.toString(), path).not.toContain(SECRET)
    }
  })

  it('unknown files are 404 (not the shell, not cached forever); other methods are not served', async () => {
    const { port } = await serve()
    for (const path of ['/nope.js', '/nope', '/assets/missing-abc.js', '/r', '/rooms/x']) {
      const answer = await get(port, path, { 'accept-encoding': 'br' })
      expect(answer.status, path).toBe(404)
      expect(answer.body.toString(), path).not.toContain('<title>')
      expect(answer.headers['cache-control'], path).toBeUndefined()
    }
    expect((await get(port, '/', {}, 'POST')).status).toBe(404)
    expect((await get(port, '/assets/app-abc123.js', {}, 'DELETE')).status).toBe(404)
  })
})
