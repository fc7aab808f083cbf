/**
 * A room's history written the way the versioner writes it, on any VersionStore, beside the real
 * texts: random edits made into versions by the checkpoint rule (version-chain.ts), removals with
 * the rewrites they need, and a check that every kept version rebuilds to its real text.
 */
import * as prng from 'lib0/prng'
import { expect } from 'vitest'
import {
  type ChainTip,
  nextContent,
  opBytesSinceCheckpoint,
  opOfDeltas,
  rebuildText,
  rewriteForRemoval,
} from '../../server/history/version-chain.ts'
import type { NewVersion, VersionContent, VersionStore } from '../../server/store/history-store.ts'
import { apply } from '../../shared/ot/apply.ts'
import { randomOp } from '../../shared/ot/random-op.ts'
import { opToDelta } from '../../shared/ot/rebase.ts'

/** An automatic version's facts at `changeId`. */
export const autoVersion = (changeId: number, length: number): NewVersion => ({
  at: 1_000 + changeId,
  changeId,
  kind: 'auto',
  name: null,
  length,
  authors: [],
  by: null,
  restoredFrom: null,
})

export class VersionHistory {
  /** The real text at every version kept. */
  readonly texts = new Map<number, string>()
  text = ''
  changeId = 0
  tip: ChainTip | null = null

  constructor(
    readonly store: VersionStore,
    readonly room = 'r',
  ) {}

  /** `count` random changes, then a version of them (its op from the deltas, or not known). */
  async edit(gen: prng.PRNG, count: number, opKnown = true): Promise<number> {
    const deltas = []
    for (let i = 0; i < count; i++) {
      const op = randomOp(gen, this.text)
      this.text = apply(this.text, op)
      deltas.push(opToDelta(op))
      this.changeId++
    }
    const op = opOfDeltas(deltas)
    const { content, opBytes } = nextContent(this.tip, opKnown ? op : null, this.text)
    const info = await this.store.addVersion(this.room, autoVersion(this.changeId, this.text.length), content)
    this.texts.set(info!.id, this.text)
    this.tip = { id: info!.id, opBytes }
    return info!.id
  }

  /** Removes `ids`, rewriting what follows them as the versioner does. */
  async remove(ids: number[]): Promise<void> {
    const removed = new Set(ids)
    const rewritten = new Map<number, VersionContent>()
    for (const { id } of await this.store.listVersions(this.room)) {
      if (removed.has(id)) continue
      const content = await rewriteForRemoval(await this.store.versionChain(this.room, id), removed)
      if (content) rewritten.set(id, content)
    }
    expect(await this.store.removeVersions(this.room, ids, rewritten)).toBe(ids.length)
    for (const id of ids) this.texts.delete(id)
    // The op since a removed latest version does not apply to the one before it: whole text next.
    const latest = (await this.store.listVersions(this.room)).at(-1)
    this.tip =
      latest && this.tip && !removed.has(this.tip.id)
        ? {
            id: latest.id,
            opBytes: opBytesSinceCheckpoint(await this.store.versionChain(this.room, latest.id)),
          }
        : null
  }

  /** Every kept version rebuilds to its real text. */
  async check(): Promise<void> {
    const list = await this.store.listVersions(this.room)
    expect(list.map((v) => v.id)).toEqual([...this.texts.keys()])
    for (const { id } of list) {
      const chain = await this.store.versionChain(this.room, id)
      expect(rebuildText(chain), `version ${id}`).toBe(this.texts.get(id))
    }
  }

  /** Rounds of random versions and random removals, checked after each step. */
  async randomRounds(gen: prng.PRNG, rounds: number): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      const versions = prng.uint32(gen, 5, 25)
      for (let i = 0; i < versions; i++)
        await this.edit(gen, prng.uint32(gen, 1, 8), prng.uint32(gen, 0, 19) > 0)
      await this.check()
      await this.remove([...this.texts.keys()].filter(() => prng.uint32(gen, 0, 9) < 3))
      await this.check()
    }
  }
}
