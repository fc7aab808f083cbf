/**
 * Bundles what the harness runs in child processes (Tandem's entry point, the peer launchers, the
 * probe and the generator) with esbuild into .tmp/bench-relay/, dependencies left external, so that
 * every process runs plain JavaScript.
 */
import { join } from 'node:path'
import { build } from 'esbuild'
import type { BuildPaths } from './systems.ts'

const root = join(import.meta.dirname, '../..')

export async function buildBundles(): Promise<BuildPaths> {
  const outdir = join(root, '.tmp/bench-relay')
  const entries = {
    probe: join(root, 'bench/relay/probe.ts'),
    generator: join(root, 'bench/relay/generator.ts'),
    tandem: join(root, 'server/main.ts'),
    rawRelay: join(root, 'bench/relay/servers/raw-relay.ts'),
    hocuspocus: join(root, 'bench/relay/servers/hocuspocus.ts'),
  }
  await build({
    entryPoints: entries,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  })
  const out = (name: keyof typeof entries) => join(outdir, `${name}.mjs`)
  return {
    probe: out('probe'),
    generator: out('generator'),
    tandem: out('tandem'),
    rawRelay: out('rawRelay'),
    hocuspocus: out('hocuspocus'),
  }
}
