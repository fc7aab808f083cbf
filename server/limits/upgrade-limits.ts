/**
 * Limits checked at the WebSocket upgrade, before tokens and before a room is touched: the Origin
 * (when `allowedOrigins` is set), connections per client address and in total, and rooms loaded.
 * An admitted upgrade holds its connection slots until its socket closes, whatever happens after
 * (a refused token, a failed handshake, or a WebSocket session that ends).
 *
 * Rooms: an upgrade admitted to a room not in memory reserves the room until its connection starts
 * loading it (`roomOpening`) or its socket closes, and reserved rooms count against
 * `maxRoomsLoaded` like loaded ones. Authentication and the handshake come between admission and
 * the load, so without the reservation upgrades arriving together would all pass the check before
 * any of their rooms was loading. (A room reserved by one upgrade while another one already loads
 * it counts twice for that moment: the cap errs towards refusing.)
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { decrement, increment } from './counts.ts'

export interface UpgradeLimitOptions {
  /** Origins (scheme://host[:port]) browsers may connect from; null allows any. */
  allowedOrigins: readonly string[] | null
  /** Take the client address from X-Forwarded-For's first entry (behind a trusted proxy). */
  trustProxy: boolean
  maxConnectionsPerIp: number
  maxConnections: number
  maxRoomsLoaded: number
}

/** What the limits need to know about the rooms: whether one is in memory, and how many are. */
export interface LoadedRooms {
  isOpen(room: string): boolean
  readonly openCount: number
}

/** Normalises an origin to `scheme://host[:port]`, or null when it is not one. */
export function normalizeOrigin(origin: string): string | null {
  try {
    const url = new URL(origin)
    return url.origin === 'null' ? null : url.origin
  } catch {
    return null
  }
}

/**
 * Null when a request with these headers may proceed; otherwise the one-line reason. Requests
 * without an Origin header (not sent by a browser) pass: the check keeps other sites' pages out.
 */
export function originProblem(request: IncomingMessage, allowed: readonly string[] | null): string | null {
  if (!allowed) return null
  const origin = request.headers.origin
  if (origin === undefined) return null
  const normalized = normalizeOrigin(origin)
  return normalized !== null && allowed.includes(normalized) ? null : 'origin not allowed'
}

/** The client's address: the socket's peer, or X-Forwarded-For's first hop behind a trusted proxy. */
export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers['x-forwarded-for']
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim()
    if (first) return first.slice(0, 64)
  }
  return request.socket.remoteAddress ?? 'unknown'
}

export class UpgradeLimits {
  private readonly perAddress = new Map<string, number>()
  private total = 0
  /** Rooms not yet loading that admitted upgrades will open, with how many upgrades reserved each. */
  private readonly reserved = new Map<string, number>()
  /** The room each reserving socket holds. */
  private readonly reservations = new Map<Duplex, string>()
  /** The address each admitted socket counts against, until it closes. */
  private readonly addresses = new Map<Duplex, string>()
  private readonly allowedOrigins: readonly string[] | null
  /**
   * The one 'close' listener every admitted socket shares (called with the socket as `this`): a
   * closure per socket, and `once`'s wrapper, would cost each idle connection a few hundred bytes.
   */
  private readonly onClose: (this: Duplex) => void

  constructor(
    private readonly options: UpgradeLimitOptions,
    private readonly rooms: LoadedRooms,
  ) {
    this.allowedOrigins = options.allowedOrigins?.map((origin) => normalizeOrigin(origin) ?? origin) ?? null
    const limits = this
    this.onClose = function onClose(this: Duplex) {
      limits.closed(this)
    }
  }

  /** Open (or opening) WebSocket connections from `address`. */
  connectionsFrom(address: string): number {
    return this.perAddress.get(address) ?? 0
  }

  /** The `admit` step of the upgrade path (`AdmitUpgrade` in ws/upgrade.ts): a refusal, or null to go on. */
  readonly admit = (
    request: IncomingMessage,
    socket: Duplex,
    room: string,
  ): { status: number; reason: string } | null => {
    const origin = originProblem(request, this.allowedOrigins)
    if (origin) return { status: 403, reason: origin }
    const address = clientAddress(request, this.options.trustProxy)
    const fromAddress = this.connectionsFrom(address)
    if (fromAddress >= this.options.maxConnectionsPerIp) {
      return {
        status: 429,
        reason: `too many connections from this address (limit ${this.options.maxConnectionsPerIp})`,
      }
    }
    if (this.total >= this.options.maxConnections) {
      return { status: 503, reason: 'too many connections to this server' }
    }
    const open = this.rooms.isOpen(room)
    if (
      !open &&
      !this.reserved.has(room) &&
      this.rooms.openCount + this.reserved.size >= this.options.maxRoomsLoaded
    ) {
      return { status: 503, reason: 'too many rooms loaded' }
    }
    this.total++
    increment(this.perAddress, address)
    if (!open) {
      increment(this.reserved, room)
      this.reservations.set(socket, room)
    }
    this.addresses.set(socket, address)
    socket.on('close', this.onClose)
    return null
  }

  /** An admitted socket closed: its slots are given back (once). */
  private closed(socket: Duplex): void {
    const address = this.addresses.get(socket)
    if (address === undefined) return
    this.addresses.delete(socket)
    this.roomOpening(socket)
    this.total--
    decrement(this.perAddress, address)
  }

  /**
   * The connection on `socket` has started loading its room (the registry counts it from now on):
   * its reservation, if any, is given back. Also done when the socket closes.
   */
  roomOpening(socket: Duplex): void {
    const room = this.reservations.get(socket)
    if (room === undefined) return
    this.reservations.delete(socket)
    decrement(this.reserved, room)
  }
}
