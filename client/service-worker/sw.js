/**
 * Tandem's service worker: keeps the app shell available offline so a document page reloads without
 * a network (the document itself lives in IndexedDB). The build (client/build/service-worker-plugin.ts)
 * injects the precache list and a version derived from it, so every deploy installs a fresh cache.
 *
 * Navigations to `/` and `/r/<id>` go to the network first and fall back to the cached index.html
 * (`/r/<id>/live` to the cached live.html, which shows "Offline" and catches up once the network is
 * back); hashed `/assets/` files are served from the cache first (they never change), and assets
 * loaded later (Markdown code-block languages) are cached on first use. The live page's feed and
 * every other API request go to the network untouched.
 */
const PRECACHE = self.__TANDEM_PRECACHE__
const CACHE = `tandem-shell-${self.__TANDEM_VERSION__}`
const SHELL = '/index.html'
const LIVE_PAGE = '/live.html'

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys
            .filter((key) => key.startsWith('tandem-shell-') && key !== CACHE)
            .map((key) => caches.delete(key)),
        ),
      )
      .then(() => self.clients.claim()),
  )
})

const isAppPage = (pathname) => pathname === '/' || pathname.startsWith('/r/')
const isLivePage = (pathname) => /^\/r\/[^/]+\/live\/?$/.test(pathname)

async function networkFirstShell(request) {
  try {
    return await fetch(request)
  } catch (error) {
    const page = isLivePage(new URL(request.url).pathname) ? LIVE_PAGE : SHELL
    const cached = await caches.match(page, { cacheName: CACHE })
    if (cached) return cached
    throw error
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE)
  const cached = await cache.match(request)
  if (cached) return cached
  const response = await fetch(request)
  if (response.ok) await cache.put(request, response.clone())
  return response
}

self.addEventListener('fetch', (event) => {
  const { request } = event
  if (request.method !== 'GET') return
  const url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  if (request.mode === 'navigate' && isAppPage(url.pathname)) {
    event.respondWith(networkFirstShell(request))
  } else if (url.pathname.startsWith('/assets/') || PRECACHE.includes(url.pathname)) {
    event.respondWith(cacheFirst(request))
  }
})
