/**
 * Bundles what the harness runs in child processes (Tandem's entry point, the peer launchers, the
 * probe and the generator) with esbuild into a directory of this run's own under .tmp/bench-relay/
 * (a smoke test started meanwhile must not rebuild what a long run is using), dependencies left
 * external, so that every process runs plain JavaScript. Tandem is bundled from the working tree, or from a commit
 * (`git archive` of its server/ and shared/, unpacked under .tmp/) so that a run measures a fixed
 * version while the working tree changes.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import type { BuildPaths } from './systems.ts'

const root = join(import.meta.dirname, '../..')

/** Builds the bundles; `tandemRef` names the commit to take Tandem from (null: the working tree). */
export async function buildBundles(tandemRef: string | null = null): Promise<BuildPaths> {
  removeStaleRuns()
  const outdir = join(root, '.tmp/bench-relay', `run-${process.pid}`)
  const source = tandemRef ? checkout(tandemRef) : root
  const entries: Record<string, string> = {
    probe: join(root, 'bench/relay/probe.ts'),
    generator: join(root, 'bench/relay/generator.ts'),
    tandem: join(source, 'server/main.ts'),
    rawRelay: join(root, 'bench/relay/servers/raw-relay.ts'),
    hocuspocus: join(root, 'bench/relay/servers/hocuspocus.ts'),
  }
  // Beside tandem.mjs, where the bundled stores look for their worker threads (by the names they had
  // at the commit being built).
  for (const name of ['sqlite-background-worker', 'sqlite-worker', 'log-merger-worker']) {
    const worker = join(source, `server/store/${name}.ts`)
    if (existsSync(worker)) entries[name] = worker
  }
  const out = await bundle(entries, outdir)
  return {
    dir: outdir,
    probe: out('probe'),
    generator: out('generator'),
    tandem: out('tandem'),
    rawRelay: out('rawRelay'),
    hocuspocus: out('hocuspocus'),
  }
}

/**
 * Bundles `entries` (name -> source) into `outdir` as ES modules for Node, dependencies left
 * external; returns where each name's bundle is (`<outdir>/<name>.mjs`).
 */
export async function bundle(
  entries: Record<string, string>,
  outdir: string,
): Promise<(name: string) => string> {
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
  return (name) => join(outdir, `${name}.mjs`)
}

/** Which Tandem a run measures: the commit of `tandemRef`, or HEAD plus any uncommitted server changes. */
export function describeTandem(tandemRef: string | null): string {
  const commit = git(['rev-parse', '--short', tandemRef ?? 'HEAD']).trim()
  if (tandemRef) return `Tandem at commit ${commit}`
  const changed = git(['status', '--porcelain', '--', 'server', 'shared']).trim()
  return `Tandem from the working tree (HEAD ${commit}${changed ? ', with uncommitted server changes' : ''})`
}

/** Removes the bundle directories of runs whose process is gone (killed before it cleaned up). */
function removeStaleRuns(): void {
  const parent = join(root, '.tmp/bench-relay')
  if (!existsSync(parent)) return
  for (const name of readdirSync(parent)) {
    const pid = Number(/^run-(\d+)$/.exec(name)?.[1])
    if (!pid || alive(pid)) continue
    rmSync(join(parent, name), { recursive: true, force: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Unpacks server/ and shared/ of `ref` under .tmp/ and returns the directory. */
function checkout(ref: string): string {
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]).trim()
  const dir = join(root, '.tmp/bench-relay-src', commit)
  if (!existsSync(join(dir, 'server/main.ts'))) {
    mkdirSync(dir, { recursive: true })
    const tar = execFileSync('git', ['archive', '--format=tar', commit, 'server', 'shared'], {
      cwd: root,
      maxBuffer: 256 * 2 ** 20,
    })
    execFileSync('tar', ['-x', '-C', dir], { input: tar })
  }
  return dir
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8' })
}
