/**
 * Replays editing traces through Yjs: sequential traces as one transaction per patch (as crdt-benchmarks B4
 * does) and concurrent traces with one Y.Doc per agent, each taking the other agents' updates just before
 * the transaction that first saw them (the parents' version), then applying its own patches.
 */
import * as Y from 'yjs'
import type { ConcurrentHistory } from '../../shared/ot/index.ts'

/** A doc whose text `text` received every patch as one transaction; `onUpdate` sees every update. */
export function replaySequentialYjs(
  patches: [number, number, string][],
  onUpdate?: (update: Uint8Array) => void,
): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = 1
  const text = doc.getText('text')
  if (onUpdate) doc.on('update', onUpdate)
  for (const [pos, del, ins] of patches) {
    doc.transact(() => {
      if (del > 0) text.delete(pos, del)
      if (ins.length > 0) text.insert(pos, ins)
    })
  }
  return doc
}

/** Replays a concurrent trace with one Y.Doc per agent; returns each replica's final text, after a full merge. */
export function replayConcurrentYjs(history: ConcurrentHistory): { docs: Y.Doc[]; replicas: string[] } {
  const k = history.numAgents
  const docs = Array.from({ length: k }, (_, a) => {
    const doc = new Y.Doc()
    doc.clientID = a + 1
    return doc
  })
  const updates: Uint8Array[][] = Array.from({ length: k }, () => [])
  const seen = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  const versions: Int32Array[] = []
  /** Txn index of each agent's n-th transaction, so updates are applied in causal (trace) order. */
  const txnIndex: number[][] = Array.from({ length: k }, () => [])
  const catchUp = (a: number, need: ArrayLike<number>) => {
    const due: [number, Uint8Array][] = []
    for (let b = 0; b < k; b++) {
      if (b === a) continue
      for (; seen[a][b] < need[b]; seen[a][b]++) due.push([txnIndex[b][seen[a][b]], updates[b][seen[a][b]]])
    }
    due.sort((x, y) => x[0] - y[0])
    for (const [, update] of due) Y.applyUpdate(docs[a], update, 'remote')
  }
  for (const txn of history.txns) {
    const a = txn.agent
    const need = new Int32Array(k)
    for (const p of txn.parents) for (let b = 0; b < k; b++) need[b] = Math.max(need[b], versions[p][b])
    catchUp(a, need)
    const text = docs[a].getText('text')
    let update: Uint8Array | null = null
    const capture = (u: Uint8Array) => {
      update = u
    }
    docs[a].on('update', capture)
    docs[a].transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del)
        if (ins.length > 0) text.insert(pos, ins)
      }
    })
    docs[a].off('update', capture)
    updates[a].push(update!)
    txnIndex[a].push(versions.length)
    seen[a][a]++
    need[a]++
    versions.push(need)
  }
  const all = updates.map((u) => u.length)
  for (let a = 0; a < k; a++) catchUp(a, all)
  return { docs, replicas: docs.map((d) => d.getText('text').toString()) }
}
