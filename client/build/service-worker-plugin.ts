/**
 * Vite build plugin that emits `/sw.js` from `client/service-worker/sw.js`, injecting the app shell's
 * precache list (the pages index.html and live.html, their entry chunks with their static imports
 * and CSS, public icons) and a version hashed from those files' names and the pages, so each build's
 * worker is byte-different and reinstalls.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Plugin } from 'vite'

/** The client's pages (client/index.html, client/live.html). */
const PAGES = ['index.html', 'live.html']

/** Public files (copied as-is by Vite) that belong to the shell. */
const PUBLIC_SHELL_FILES = ['/favicon.svg', '/manifest.webmanifest']

/** The plugin; `templatePath` is the worker source with `self.__TANDEM_PRECACHE__`/`__TANDEM_VERSION__`. */
export function tandemServiceWorker(templatePath: string): Plugin {
  return {
    name: 'tandem-service-worker',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const pages = PAGES.filter((page) => bundle[page])
      const files = new Set<string>([...pages.map((page) => `/${page}`), ...PUBLIC_SHELL_FILES])
      const visit = (fileName: string) => {
        const item = bundle[fileName]
        if (!item || files.has(`/${fileName}`)) return
        files.add(`/${fileName}`)
        if (item.type !== 'chunk') return
        for (const css of item.viteMetadata?.importedCss ?? []) files.add(`/${css}`)
        for (const asset of item.viteMetadata?.importedAssets ?? []) files.add(`/${asset}`)
        for (const imported of item.imports) visit(imported)
      }
      for (const item of Object.values(bundle))
        if (item.type === 'chunk' && item.isEntry) visit(item.fileName)
      const precache = [...files].sort()
      const hash = createHash('sha256').update(JSON.stringify(precache))
      for (const page of pages) {
        const html = bundle[page]
        if (html.type === 'asset') hash.update(html.source)
      }
      const version = hash.digest('hex').slice(0, 12)
      const source = readFileSync(templatePath, 'utf8')
        .replace('self.__TANDEM_PRECACHE__', JSON.stringify(precache))
        .replace('self.__TANDEM_VERSION__', JSON.stringify(version))
      this.emitFile({ type: 'asset', fileName: 'sw.js', source })
    },
  }
}
