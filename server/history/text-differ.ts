/**
 * Diffs for the history API, without stalling the event loop (text-diff.ts computes them). The
 * texts' common start and end are found here, on the calling thread (a scan of code units, about a
 * millisecond for 1 MB, copying nothing), and kept whole at surrogate pairs; what is left in
 * the middle is diffed here when it is short (`INLINE_UNITS`, with text-diff's short deadline), else
 * on a worker thread given `BACKGROUND_DEADLINE_MS`: two 1 MB texts with a few thousand changes
 * scattered over them take 70-180 ms there, which here would hold every room's relay.
 *
 * One worker per process (`text-diff-worker.ts`), started at the first long diff, unreferenced (it
 * keeps the process alive only while a diff waits), kept until the process ends; it diffs one pair
 * at a time. At most
 * `MAX_WAITING` diffs wait for it: past that a diff is refused with DiffBusyError (the API answers
 * 503). A worker that dies fails the diffs it had; the next one starts another.
 *
 *   request  = { id, from, to, options: DiffOptions }     (structured clone)
 *   response = { id, diff: TextDiff } | { id, error: message }
 */

import { Worker } from 'node:worker_threads'
import { isHighSurrogate, isLowSurrogate } from '../../shared/ot/rebase.ts'
import { workerEntry } from '../store/worker-entry.ts'
import { type DiffCleanup, type DiffOptions, type DiffRun, diffTexts, type TextDiff } from './text-diff.ts'

/** Middles up to this many units (both texts together) are diffed on the calling thread. */
export const INLINE_UNITS = 32_768

/** The time the worker gives the library to find a fine diff. */
export const BACKGROUND_DEADLINE_MS = 1_000

/** Diffs that may wait for the worker at once. */
export const MAX_WAITING = 8

/** Too many diffs are waiting for the worker: try again shortly. */
export class DiffBusyError extends Error {
  override readonly name = 'DiffBusyError'
}

type Response = { id: number; diff: TextDiff } | { id: number; error: string }

interface Pending {
  resolve(diff: TextDiff): void
  reject(err: Error): void
}

export class TextDiffer {
  private worker: Worker | null = null
  private readonly pending = new Map<number, Pending>()
  private nextId = 1

  /** The runs turning `from` into `to` (text-diff.ts, cleaned up as `cleanup` says), the long part off this thread. */
  async diff(from: string, to: string, cleanup: DiffCleanup = 'semantic'): Promise<TextDiff> {
    const shorter = Math.min(from.length, to.length)
    let prefix = 0
    while (prefix < shorter && from.charCodeAt(prefix) === to.charCodeAt(prefix)) prefix++
    if (prefix > 0 && isHighSurrogate(from.charCodeAt(prefix - 1))) prefix--
    let suffix = 0
    const tail = shorter - prefix
    while (
      suffix < tail &&
      from.charCodeAt(from.length - 1 - suffix) === to.charCodeAt(to.length - 1 - suffix)
    )
      suffix++
    if (suffix > 0 && isLowSurrogate(from.charCodeAt(from.length - suffix))) suffix--
    const oldMiddle = from.slice(prefix, from.length - suffix)
    const newMiddle = to.slice(prefix, to.length - suffix)
    const middle =
      oldMiddle.length + newMiddle.length <= INLINE_UNITS
        ? diffTexts(oldMiddle, newMiddle, { cleanup })
        : await this.inWorker(oldMiddle, newMiddle, { cleanup, deadlineMs: BACKGROUND_DEADLINE_MS })
    const runs: DiffRun[] = []
    const append = (run: DiffRun) => {
      const last = runs[runs.length - 1]
      if ('equal' in run && last && 'equal' in last) runs[runs.length - 1] = { equal: last.equal + run.equal }
      else runs.push(run)
    }
    if (prefix > 0) append({ equal: prefix })
    for (const run of middle.runs) append(run)
    if (suffix > 0) append({ equal: suffix })
    return { runs, inserted: middle.inserted, deleted: middle.deleted }
  }

  private inWorker(from: string, to: string, options: DiffOptions): Promise<TextDiff> {
    if (this.pending.size >= MAX_WAITING) {
      return Promise.reject(new DiffBusyError(`${MAX_WAITING} diffs are waiting already`))
    }
    const id = this.nextId++
    const worker = this.ensureWorker()
    return new Promise<TextDiff>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      worker.ref()
      worker.postMessage({ id, from, to, options })
    })
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(workerEntry('text-diff', import.meta.url))
    this.worker = worker
    worker.on('message', (message: Response) => {
      const pending = this.pending.get(message.id)
      if (!pending) return
      this.pending.delete(message.id)
      if (this.pending.size === 0) worker.unref()
      if ('error' in message) pending.reject(new Error(`the diff failed: ${message.error}`))
      else pending.resolve(message.diff)
    })
    const lost = (err: Error) => {
      if (this.worker !== worker) return
      this.worker = null
      for (const pending of this.pending.values()) pending.reject(err)
      this.pending.clear()
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`the diff thread exited (code ${code})`)))
    return worker
  }
}

/** The process's differ (one worker, shared by every server in the process). */
export const textDiffer = new TextDiffer()
