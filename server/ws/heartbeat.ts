/**
 * Finds dead peers by ping/pong, as ws' README recipe does: every `intervalMs` a connection that
 * has not answered the previous ping (`Connection.alive`, set by its pong) is terminated, and every
 * other one is pinged again. One timer for all connections; it does not keep the process alive.
 */
import type { Logger } from 'pino'
import type { Connection } from './connection.ts'

export class Heartbeat {
  private readonly timer: NodeJS.Timeout

  /** Starts beating over `connections` (read at each beat). */
  constructor(
    private readonly connections: Iterable<Connection>,
    intervalMs: number,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.beat(), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private beat(): void {
    for (const connection of this.connections) {
      try {
        if (!connection.alive) {
          this.log.info(
            { conn: connection.id, room: connection.roomName },
            'peer missed a heartbeat; terminating',
          )
          connection.ws.terminate()
          continue
        }
        connection.alive = false
        connection.ws.ping()
      } catch (err) {
        this.log.error({ err, conn: connection.id }, 'heartbeat failed for a connection')
      }
    }
  }
}
