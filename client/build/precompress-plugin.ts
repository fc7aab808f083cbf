/**
 * Vite build plugin that writes a Brotli (`.br`, quality 11) and a gzip (`.gz`, level 9) sibling
 * beside every compressible file of the build larger than 1 KiB, once the build is written, so the
 * server (sirv, `server/http/static-files.ts`) sends them as they are to browsers that accept them. A
 * sibling that would not be smaller than the file is not written.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { extname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'
import type { Plugin } from 'vite'

const COMPRESSIBLE = new Set([
  '.js',
  '.mjs',
  '.css',
  '.html',
  '.svg',
  '.json',
  '.webmanifest',
  '.txt',
  '.map',
])
const MIN_BYTES = 1024

const brotli = promisify(brotliCompress)
const gzipAsync = promisify(gzip)

/** Writes `<file>.br` and `<file>.gz` for each compressible file under `dir`; returns how many files. */
export async function precompressDirectory(dir: string): Promise<number> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && COMPRESSIBLE.has(extname(entry.name)))
    .map((entry) => join(entry.parentPath, entry.name))
  let compressed = 0
  await Promise.all(
    files.map(async (file) => {
      const source = readFileSync(file)
      if (source.length <= MIN_BYTES) return
      const [br, gz] = await Promise.all([
        brotli(source, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
            [constants.BROTLI_PARAM_SIZE_HINT]: source.length,
          },
        }),
        gzipAsync(source, { level: constants.Z_BEST_COMPRESSION }),
      ])
      if (br.length < source.length) writeFileSync(`${file}.br`, br)
      if (gz.length < source.length) writeFileSync(`${file}.gz`, gz)
      compressed++
    }),
  )
  return compressed
}

/** The plugin: precompresses the output directory after every production build. */
export function precompress(): Plugin {
  let outDir = ''
  return {
    name: 'tandem-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    async closeBundle() {
      await precompressDirectory(outDir)
    },
  }
}
