/**
 * One config for the browser client (Vite) and the test runner (Vitest). The client has two pages:
 * the editor (index.html, served for `/` and `/r/<room>`) and the live page (live.html, for
 * `/r/<room>/live`).
 * `npm run dev` proxies the WebSocket relay and API to a running server (TANDEM_DEV_TARGET, default :1234).
 */
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vite'
import { defineConfig } from 'vitest/config'
import { precompress } from './client/build/precompress-plugin.ts'
import { tandemServiceWorker } from './client/build/service-worker-plugin.ts'

const target = process.env.TANDEM_DEV_TARGET ?? 'http://127.0.0.1:1234'
const page = (name: string) => fileURLToPath(new URL(`./client/${name}`, import.meta.url))

/** `npm run dev`: `/r/<room>/live` is the live page, as server/http/static-files.ts routes it. */
const livePageRoute: Plugin = {
  name: 'tandem-live-page-route',
  configureServer(server) {
    server.middlewares.use((req, _res, next) => {
      if (req.url && /^\/r\/[^/?#]+\/live\/?(?:[?#]|$)/.test(req.url)) req.url = '/live.html'
      next()
    })
  },
}

export default defineConfig({
  root: 'client',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rollupOptions: { input: { index: page('index.html'), live: page('live.html') } },
  },
  plugins: [
    livePageRoute,
    tandemServiceWorker(fileURLToPath(new URL('./client/service-worker/sw.js', import.meta.url))),
    precompress(),
  ],
  server: {
    proxy: {
      '/health': target,
      '/api': target,
      // The relay lives at ws://HOST/<room>; the app lives at /r/<room>.
      // Only WebSocket upgrades go to the relay; plain requests (/favicon.svg, /sw.js...) stay with Vite.
      '^/(?!r/|@|src/|node_modules/|assets/)[A-Za-z0-9._~-]+(\\?.*)?$': {
        target,
        ws: true,
        bypass: (req) => (req.headers.upgrade ? undefined : req.url),
      },
    },
  },
  test: {
    root: '.',
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    pool: 'forks',
  },
})
