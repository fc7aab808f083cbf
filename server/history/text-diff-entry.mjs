// Worker entry when running from TypeScript source: a worker thread does not inherit tsx's module
// hooks on every Node version, so it loads the worker module through tsx's API. (Compiled and bundled
// builds run their text-diff-worker .js or .mjs directly.)
import { tsImport } from 'tsx/esm/api'

await tsImport('./text-diff-worker.ts', import.meta.url)
