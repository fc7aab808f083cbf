/**
 * One config for the browser client (Vite) and the test runner (Vitest).
 * `npm run dev` proxies the WebSocket relay and API to a running server (TANDEM_DEV_TARGET, default :1234).
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { precompress } from './client/build/precompress-plugin.ts'
import { tandemServiceWorker } from './client/build/service-worker-plugin.ts'

const target = process.env.TANDEM_DEV_TARGET ?? 'http://127.0.0.1:1234'

export default defineConfig({
  root: 'client',
  build: { outDir: 'dist', emptyOutDir: true },
  plugins: [
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
