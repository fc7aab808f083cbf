/**
 * Real editing traces through both paths: every sequential trace (OT rope apply and Yjs, one transaction
 * per patch) must reach its endContent; the concurrent traces replay with one replica per agent through
 * OT (server + Jupiter links) and through Yjs (one Y.Doc per agent). See docs/ot.md for the replay method.
 */
import { describe, expect, it } from 'vitest'
import { replayConcurrentYjs, replaySequentialYjs } from '../bench/lib/replay-yjs.ts'
import { apply, Rope, replayConcurrentOT, spliceOp } from '../shared/ot/index.ts'
import { loadConcurrentTrace, loadSequentialTrace, traceNames } from './helpers/traces.ts'

describe('sequential traces reach endContent through both paths', () => {
  for (const name of traceNames('sequential')) {
    it(name, () => {
      const trace = loadSequentialTrace(name)
      const patches = trace.txns.flatMap((t) => t.patches)
      const rope = new Rope(trace.startContent)
      for (const [pos, del, ins] of patches) apply(rope, spliceOp(pos, del, ins))
      expect(rope.toString() === trace.endContent).toBe(true)
      const doc = replaySequentialYjs(patches)
      expect(doc.getText('text').toString() === trace.endContent).toBe(true)
    })
  }
})

describe('concurrent traces: every replica ends at endContent', () => {
  for (const name of traceNames('concurrent')) {
    it(`${name} through Yjs`, () => {
      const trace = loadConcurrentTrace(name)
      const { replicas } = replayConcurrentYjs(trace)
      expect(replicas).toHaveLength(trace.numAgents)
      for (const text of replicas) expect(text === trace.endContent).toBe(true)
    })

    it(`${name} through OT`, () => {
      const trace = loadConcurrentTrace(name)
      const { server, replicas } = replayConcurrentOT(trace)
      for (const text of replicas) expect(text === server).toBe(true)
      expect(server === trace.endContent).toBe(true)
    })
  }
})
