/**
 * One config for the browser client (Vite) and the test runner (Vitest).
 * `npm run dev` proxies the WebSocket relay and API to a running server (TANDEM_DEV_TARGET, default :1234).
 */
import { defineConfig } from 'vitest/config'

const target = process.env.TANDEM_DEV_TARGET ?? 'http://127.0.0.1:1234'

export default defineConfig({
  root: 'client',
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    proxy: {
      '/health': target,
      // The relay lives at ws://HOST/<room>; the app lives at /r/<room>.
      '^/(?!r/|@|src/|node_modules/|assets/)[A-Za-z0-9._~-]+$': { target, ws: true },
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
