/**
 * The text differ's thread (see `text-differ.ts` for the protocol): diffs two texts with
 * `diffTexts`, given the time a fine diff of long texts takes, off the relay's event loop. It holds
 * no state between requests.
 */
import { parentPort } from 'node:worker_threads'
import { type DiffOptions, diffTexts } from './text-diff.ts'

type Request = { id: number; from: string; to: string; options: DiffOptions }

const port = parentPort!

port.on('message', (request: Request) => {
  try {
    port.postMessage({ id: request.id, diff: diffTexts(request.from, request.to, request.options) })
  } catch (err) {
    port.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) })
  }
})
