/**
 * Registers the service worker that keeps the app shell available offline (see
 * `client/service-worker/sw.js`). Only production builds have one; the dev server does not.
 */

/** Registers `/sw.js` when supported; failures are logged, the app works without it. */
export function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((error: unknown) => {
    console.warn('tandem: service worker registration failed; offline reload will not work', error)
  })
}
