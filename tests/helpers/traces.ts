/**
 * Loads the editing traces in tests/fixtures/traces (formats, provenance and license in its README.md):
 * gunzip + JSON.parse, resolved from the repository root so it works from any working directory.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

/** `[position, deleteCount, insertText]`; positions count code points (all traces here are BMP-only). */
export type Patch = [number, number, string]

/** A single-user trace: apply every txn's patches in order to reach `endContent`. */
export interface SequentialTrace {
  startContent: string
  endContent: string
  txns: { time?: string; patches: Patch[] }[]
}

/** One transaction of a concurrent trace; `parents` index earlier txns (empty = the empty document). */
export interface ConcurrentTxn {
  parents: number[]
  numChildren: number
  agent: number
  time: string
  patches: Patch[]
}

/** A concurrent trace: a DAG of transactions by `numAgents` agents; every replica ends at `endContent`. */
export interface ConcurrentTrace {
  kind: 'concurrent'
  endContent: string
  numAgents: number
  txns: ConcurrentTxn[]
}

/** The repository root (the folder holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** The trace folder, inside the repository (a clone alone has every trace that is read). */
export const tracesDir = path.join(repoRoot, 'tests/fixtures/traces')

function readGzipJson(file: string): unknown {
  return JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'))
}

/** Names (without `.json.gz`) of the traces in one folder, sorted. */
export function traceNames(kind: 'sequential' | 'concurrent'): string[] {
  return readdirSync(path.join(tracesDir, kind))
    .filter((f) => f.endsWith('.json.gz'))
    .map((f) => f.slice(0, -'.json.gz'.length))
    .sort()
}

/** Loads `sequential/NAME.json.gz`. */
export function loadSequentialTrace(name: string): SequentialTrace {
  return readGzipJson(path.join(tracesDir, 'sequential', `${name}.json.gz`)) as SequentialTrace
}

/** Loads `concurrent/NAME.json.gz`. */
export function loadConcurrentTrace(name: string): ConcurrentTrace {
  return readGzipJson(path.join(tracesDir, 'concurrent', `${name}.json.gz`)) as ConcurrentTrace
}

/** Loads `yjs/NAME.yjs.gz`: a whole document as one Yjs update in the V2 encoding. */
export function loadYjsTrace(name: string): Uint8Array {
  return gunzipSync(readFileSync(path.join(tracesDir, 'yjs', `${name}.yjs.gz`)))
}
