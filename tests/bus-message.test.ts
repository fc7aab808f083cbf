/**
 * The fan-out frame codec (server/fanout/bus-message.ts): seeded round trips, and every way a frame
 * can be wrong read as a named BusMessageError, never another throw and never a long loop.
 */
import * as prng from 'lib0/prng'
import { describe, expect, it } from 'vitest'
import {
  type BusEntry,
  BusKind,
  BusMessageError,
  decodeBusFrame,
  decodeChangeEntry,
  decodeVersionEntry,
  encodeBusFrame,
  encodeChangeEntry,
  encodeVersionEntry,
} from '../server/fanout/bus-message.ts'
import type { VersionInfo } from '../server/store/history-store.ts'
import { seededTest } from './helpers/seed.ts'

const KINDS = [BusKind.update, BusKind.awareness, BusKind.resync, BusKind.policy] as const

function randomEntries(gen: prng.PRNG): BusEntry[] {
  return Array.from({ length: prng.uint32(gen, 1, 20) }, () => {
    const kind = KINDS[prng.uint32(gen, 0, KINDS.length - 1)]
    const length = kind === BusKind.resync ? 0 : prng.uint32(gen, 0, 300)
    return { kind, payload: prng.uint8Array(gen, length) }
  })
}

describe('fan-out frames', () => {
  seededTest('round-trip sender, time and entries in order', (gen) => {
    for (let i = 0; i < 200; i++) {
      const entries = randomEntries(gen)
      const sender = prng.word(gen, 1, 16)
      const sentAt = prng.uint32(gen, 0, 2 ** 31) * 1000
      expect(decodeBusFrame(encodeBusFrame(sender, entries, sentAt))).toEqual({ sender, sentAt, entries })
    }
  })

  seededTest('refuse every truncation, trailing bytes and random bytes with BusMessageError', (gen) => {
    const frame = encodeBusFrame('instance', randomEntries(gen))
    for (let end = 0; end < frame.length; end++) {
      expect(() => decodeBusFrame(frame.subarray(0, end))).toThrow(BusMessageError)
    }
    expect(() => decodeBusFrame(new Uint8Array([...frame, 0]))).toThrow(BusMessageError)
    for (let i = 0; i < 500; i++) {
      const bytes = prng.uint8Array(gen, prng.uint32(gen, 0, 64))
      try {
        decodeBusFrame(bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(BusMessageError)
      }
    }
  })

  it('refuses an unknown version or kind, no entries, and a count past the frame', () => {
    const good = encodeBusFrame('a', [{ kind: BusKind.update, payload: new Uint8Array([1, 2]) }], 0)
    const version = good.slice()
    version[0] = 2
    expect(() => decodeBusFrame(version)).toThrow(/version 2/)
    // version, sender "a" (2 bytes), float64, count: the kind is at offset 12.
    const kind = good.slice()
    kind[12] = 9
    expect(() => decodeBusFrame(kind)).toThrow(/kind 9/)
    expect(() => decodeBusFrame(encodeBusFrame('a', [], 0))).toThrow(/0 entries/)
    const count = good.slice()
    count[11] = 100
    expect(() => decodeBusFrame(count)).toThrow(/100 entries/)
  })

  it('carries a change with its id, time and author; a malformed change payload fails the frame', () => {
    const update = new Uint8Array([0, 0])
    for (const author of ['Ada 😀', null]) {
      const payload = encodeChangeEntry({ id: 42, at: 1_700_000_000_000, author, update })
      const frame = decodeBusFrame(encodeBusFrame('a', [{ kind: BusKind.change, payload }], 0))
      expect(decodeChangeEntry(frame.entries[0].payload)).toEqual({
        id: 42,
        at: 1_700_000_000_000,
        author,
        update,
      })
    }
    const good = encodeChangeEntry({ id: 1, at: 0, author: null, update })
    const zero = good.slice()
    zero[0] = 0
    const flag = good.slice()
    flag[9] = 2
    for (const payload of [zero, flag, good.subarray(0, good.length - 1), new Uint8Array([...good, 0])]) {
      expect(() => decodeChangeEntry(payload)).toThrow(BusMessageError)
      expect(() => decodeBusFrame(encodeBusFrame('a', [{ kind: BusKind.change, payload }], 0))).toThrow(
        BusMessageError,
      )
    }
  })

  it('carries a version with all its facts; every truncation or extra byte fails the frame', () => {
    const versions: VersionInfo[] = [
      {
        id: 7,
        at: 1_700_000_000_123,
        changeId: 120,
        kind: 'restore',
        name: 'Restored from “Draft” 😀',
        length: 5000,
        authors: ['Ada', 'Bo 😀', ''],
        by: 'Ada',
        restoredFrom: 0,
      },
      {
        id: 1,
        at: 0,
        changeId: 0,
        kind: 'auto',
        name: null,
        length: 0,
        authors: [],
        by: null,
        restoredFrom: null,
      },
      {
        id: 2,
        at: 5,
        changeId: 9,
        kind: 'named',
        name: '',
        length: 1,
        authors: ['x'],
        by: 'x',
        restoredFrom: 1,
      },
    ]
    for (const version of versions) {
      const payload = encodeVersionEntry(version)
      const frame = decodeBusFrame(encodeBusFrame('a', [{ kind: BusKind.version, payload }], 0))
      expect(decodeVersionEntry(frame.entries[0].payload)).toEqual(version)
      for (let end = 0; end < payload.length; end++) {
        expect(() => decodeVersionEntry(payload.subarray(0, end))).toThrow(BusMessageError)
      }
      const longer = new Uint8Array([...payload, 0])
      expect(() =>
        decodeBusFrame(encodeBusFrame('a', [{ kind: BusKind.version, payload: longer }], 0)),
      ).toThrow(BusMessageError)
    }
    // id 0, an unknown kind, an author count past the payload.
    const zero = encodeVersionEntry(versions[1])
    zero[0] = 0
    const kind = encodeVersionEntry(versions[1])
    kind[10] = 3
    const count = encodeVersionEntry(versions[1])
    count[13] = 100
    for (const payload of [zero, kind, count])
      expect(() => decodeVersionEntry(payload)).toThrow(BusMessageError)
  })
})
