/**
 * Live permissions: the open connections admitted with a token, by room, so that an admin's change
 * reaches them at once. Revoking a token id closes every connection using it (4410); a mode change
 * sets every connection's effective access (each is told, see `Connection.setAccess`); a token that
 * expires during a session closes its connection at the expiry (4401, one timer per connection).
 * A change another instance made (announced on the bus) or may have made (the bus was away) is
 * re-read from the store and applied the same way (`policyChanged`, `policiesStale`).
 */
import type { Logger } from 'pino'
import { type AccessLevel, CloseCode, type RoomMode } from '../../shared/protocol/index.ts'
import type { PolicyListener } from '../fanout/room-bus.ts'
import type { GrantToken } from '../ws/upgrade.ts'
import { effectiveAccess, type RoomPolicies } from './room-policy.ts'

/** What live permissions need of a connection. */
export interface GovernedConnection {
  readonly id: number
  readonly roomName: string
  readonly closed: boolean
  /** Changes what the connection may do from its next message on, and tells the client. */
  setAccess(access: AccessLevel): void
  close(code: number, reason: string): void
}

/** Longest delay a Node timer takes; later expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class LiveAccess implements PolicyListener {
  private readonly rooms = new Map<string, Map<GovernedConnection, GrantToken>>()
  private readonly expiryTimers = new Map<GovernedConnection, NodeJS.Timeout>()

  constructor(
    private readonly policies: RoomPolicies,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts governing `connection`, admitted with `token`. */
  add(connection: GovernedConnection, token: GrantToken): void {
    let members = this.rooms.get(connection.roomName)
    if (!members) {
      members = new Map()
      this.rooms.set(connection.roomName, members)
    }
    members.set(connection, token)
    this.armExpiry(connection, token.expiresAt)
    // A revocation or mode change may have landed between the token check and now.
    void this.recheck(connection, token).catch((err) =>
      this.log.error({ err, conn: connection.id, room: connection.roomName }, 'rechecking access failed'),
    )
  }

  /** Stops governing `connection` (it closed). */
  remove(connection: GovernedConnection): void {
    const members = this.rooms.get(connection.roomName)
    if (members?.delete(connection) && members.size === 0) this.rooms.delete(connection.roomName)
    clearTimeout(this.expiryTimers.get(connection))
    this.expiryTimers.delete(connection)
  }

  /** Closes every connection of `room` admitted with token id `jti` (4410); returns how many. */
  revoke(room: string, jti: string): number {
    let closed = 0
    for (const [connection, token] of this.rooms.get(room) ?? []) {
      if (token.jti !== jti || connection.closed) continue
      this.log.warn(
        { conn: connection.id, room, code: CloseCode.revoked },
        'closing connection: revoked: token revoked',
      )
      connection.close(CloseCode.revoked, 'revoked: token revoked')
      closed++
    }
    return closed
  }

  /** Applies `mode` to every connection of `room`; returns how many changed access. */
  applyMode(room: string, mode: RoomMode): number {
    let changed = 0
    for (const [connection, token] of this.rooms.get(room) ?? []) {
      if (connection.closed) continue
      connection.setAccess(effectiveAccess(token.access, mode))
      changed++
    }
    return changed
  }

  /** Another instance changed `room`'s policy: re-reads it and applies it to this room's connections. */
  policyChanged(room: string): void {
    this.policies.forget(room)
    this.recheckRoom(room)
  }

  /** Changes may have been missed: forgets every cached policy and re-applies those in use. */
  policiesStale(): void {
    this.policies.forgetAll()
    for (const room of this.rooms.keys()) this.recheckRoom(room)
  }

  private recheckRoom(room: string): void {
    for (const [connection, token] of this.rooms.get(room) ?? []) {
      void this.recheck(connection, token).catch((err) =>
        this.log.error({ err, conn: connection.id, room }, 'rechecking access failed'),
      )
    }
  }

  private async recheck(connection: GovernedConnection, token: GrantToken): Promise<void> {
    const room = connection.roomName
    if (await this.policies.isRevoked(room, token.jti)) {
      if (connection.closed) return
      this.log.warn(
        { conn: connection.id, room, code: CloseCode.revoked },
        'closing connection: revoked: token revoked',
      )
      connection.close(CloseCode.revoked, 'revoked: token revoked')
      return
    }
    const mode = await this.policies.mode(room)
    if (!connection.closed) connection.setAccess(effectiveAccess(token.access, mode))
  }

  private armExpiry(connection: GovernedConnection, expiresAt: number): void {
    const delay = expiresAt - this.now()
    const timer = setTimeout(
      () => {
        if (connection.closed) return
        if (this.now() < expiresAt) return this.armExpiry(connection, expiresAt)
        this.log.warn(
          { conn: connection.id, room: connection.roomName, code: CloseCode.tokenExpired },
          'closing connection: tokenExpired: token expired',
        )
        connection.close(CloseCode.tokenExpired, 'tokenExpired: token expired')
      },
      Math.min(Math.max(delay, 0), MAX_TIMER_MS),
    )
    timer.unref()
    this.expiryTimers.set(connection, timer)
  }
}
