/**
 * The attacker's plumbing for bench/hostile.ts, shared by both rounds of attacks
 * (bench/hostile-attacks.ts): what the attacker is told about the system under test, how it records
 * how its connections ended, raw peers and stock clients, and room tokens when the server signs links.
 */
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { signRoomToken } from '../server/auth/tokens.ts'
import type { AccessLevel } from '../shared/protocol/index.ts'
import { syncStep1Frame } from '../tests/helpers/hostile.ts'
import { parsePrometheusText } from '../tests/helpers/prometheus-text.ts'
import { RawPeer } from '../tests/helpers/raw-peer.ts'

export const MB = 1024 * 1024

/** The secret servers of classes with `auth` run with (both sides know it: the bench mints links). */
export const BENCH_AUTH_SECRET = 'bench-hostile-secret-0123456789-abcdef'

/** What a class needs of the system under test. */
export interface ClassSpec {
  id: string
  attack: string
  /** The server stores in SQLite (else memory, unless `services` has PostgreSQL). */
  sqlite?: boolean
  /** The server signs room links with BENCH_AUTH_SECRET; every connection needs a token. */
  auth?: boolean
  /** Server processes, all on the same store and Redis (default 1); the healthy room is on the last. */
  instances?: number
  /** Services the servers run on (a fresh database and Redis prefix per class; skipped if unreachable). */
  services?: Array<'postgres' | 'redis'>
  /** More server flags. */
  serverArgs?: string[]
}

/** Where the attacker finds the system: every instance's port, the SQLite directory, whether links are signed. */
export interface Target {
  ports: number[]
  dataDir: string | null
  auth: boolean
}

/** How an attack's connections ended (label → count), and notes for the report. */
export interface AttackResult {
  outcomes: Record<string, number>
  notes: string[]
}

export interface Attack {
  /** Builds payloads and sets up rooms; runs before the measured window. */
  prepare(): Promise<void>
  /** Attacks until `deadline` (epoch ms). `aliceId` is the healthy typist's client id. */
  run(deadline: number, aliceId: number): Promise<void>
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export const remaining = (deadline: number) => Math.max(0, deadline - Date.now())

/** Polls `condition` every 20 ms: true once it holds, false after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > end) return false
    await sleep(20)
  }
  return true
}

/** A stock y-websocket provider (Node, `ws` polyfill) for `room`; `params` go into the URL (a token). */
export function stockProvider(
  url: string,
  room: string,
  doc: Y.Doc,
  connect = true,
  params: Record<string, string> = {},
): WebsocketProvider {
  return new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect,
    params,
    disableBc: true,
    maxBackoffTime: 500,
  })
}

/** Resolves true once `provider` has synced, false after `timeoutMs`. */
export function providerSynced(provider: WebsocketProvider, timeoutMs: number): Promise<boolean> {
  return Promise.race([
    new Promise<boolean>((resolve) =>
      provider.synced ? resolve(true) : provider.once('sync', () => resolve(true)),
    ),
    sleep(timeoutMs).then(() => false),
  ])
}

/** A link token for `room` signed with BENCH_AUTH_SECRET. */
export async function benchToken(room: string, access: AccessLevel): Promise<string> {
  return (await signRoomToken(BENCH_AUTH_SECRET, { room, access, ttlSeconds: 3_600 })).token
}

/** Shared plumbing of the attacks: raw peers, outcome counting, deadlines, tokens. */
export class Attacker {
  nextClient = 10_000_000
  /** The first instance (the one attacked). */
  readonly url: string
  readonly port: number

  constructor(
    readonly target: Target,
    readonly result: AttackResult,
  ) {
    this.port = target.ports[0]
    this.url = this.urlOf(0)
  }

  urlOf(instance: number): string {
    return `ws://127.0.0.1:${this.target.ports[instance]}`
  }

  /** `room` as a connection path, with a token of `access` when the server signs links. */
  async path(room: string, access: AccessLevel = 'edit'): Promise<string> {
    return this.target.auth ? `${room}?token=${encodeURIComponent(await benchToken(room, access))}` : room
  }

  /** Provider params for `room` (a token of `access` when the server signs links). */
  async params(room: string, access: AccessLevel = 'edit'): Promise<Record<string, string>> {
    return this.target.auth ? { token: await benchToken(room, access) } : {}
  }

  count(label: string, n = 1): void {
    this.result.outcomes[label] = (this.result.outcomes[label] ?? 0) + n
  }

  /** Records how `peer` ended: its close code, or "open". */
  countEnd(peer: RawPeer, prefix = ''): void {
    this.count(`${prefix}${peer.closeCode === null ? 'open' : peer.closeCode}`)
  }

  /** A raw peer on `path` of instance `instance`, open (null, counted as "connect failed", if the upgrade fails). */
  async open(path: string, instance = 0): Promise<RawPeer | null> {
    const peer = new RawPeer(this.urlOf(instance), path)
    try {
      await peer.opened
      return peer
    } catch {
      this.count('connect failed')
      return null
    }
  }

  /** Opens `path`, sends `frames`, waits up to `waitMs` for a close, and records how it ended. */
  async sendAndRecord(path: string, frames: Uint8Array[], waitMs: number, prefix = ''): Promise<void> {
    const peer = await this.open(path)
    if (!peer) return
    // Not awaited: a busy server may not take them in before the deadline.
    for (const frame of frames) void peer.send(frame)
    await peer.closedWithin(waitMs)
    this.countEnd(peer, prefix)
    peer.close()
  }

  /**
   * Bytes of the sync reply to an empty state vector: the step 2 plus the sync updates sent right
   * behind it (Tandem answers fresh joiners with a shared encoding plus the updates applied since).
   */
  async fullSyncReplyBytes(peer: RawPeer, timeoutMs: number): Promise<number> {
    await peer.send(syncStep1Frame())
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline && peer.closeCode === null) {
      const at = peer.received.findIndex((frame) => frame[0] === 0 && frame[1] === 1)
      if (at >= 0) {
        await sleep(200)
        let bytes = 0
        for (const frame of peer.received.slice(at))
          if (frame[0] === 0 && frame[1] !== 0) bytes += frame.length
        return bytes
      }
      await sleep(20)
    }
    return 0
  }

  /** The sum of every sample of metric `name` on instance `instance` (`/metrics`), or null. */
  async metric(name: string, instance = 0): Promise<number | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.target.ports[instance]}/metrics`, {
        signal: AbortSignal.timeout(5_000),
      })
      const families = parsePrometheusText(await res.text())
      let sum = 0
      for (const family of families.values())
        for (const sample of family.samples) if (sample.name === name) sum += sample.value
      return sum
    } catch {
      return null
    }
  }
}

/** True if a fresh stock client syncs `room` within `timeoutMs`. */
export async function stockClientSyncs(url: string, room: string, timeoutMs: number): Promise<boolean> {
  const doc = new Y.Doc()
  const provider = stockProvider(url, room, doc)
  const ok = await providerSynced(provider, timeoutMs)
  provider.destroy()
  doc.destroy()
  return ok
}
