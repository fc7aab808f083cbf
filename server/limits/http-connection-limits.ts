/**
 * Caps on plain HTTP sockets: every TCP connection counts from its `connection` event until it
 * closes or asks to upgrade (from then on the upgrade limits count it: a WebSocket is bounded by
 * `maxConnections`). Past `maxHttpConnections` in total, or `maxHttpConnectionsPerIp` from one
 * peer address, a new socket is destroyed at once, before a byte of it is parsed, as Node does past
 * `server.maxConnections`. So held-open sockets cannot take every file descriptor: the server holds
 * at most `maxConnections + maxHttpConnections` sockets (Node's own cap is set to that sum too).
 *
 * The per-address cap uses the socket's peer: behind a trusted proxy every socket comes from the
 * proxy, so it is not applied then (the proxy limits its clients; the total cap still holds).
 */
import type { Socket } from 'node:net'
import { decrement, increment } from './counts.ts'

export interface HttpConnectionLimitOptions {
  maxHttpConnections: number
  maxHttpConnectionsPerIp: number
  /** Behind a trusted proxy: no per-address cap (see the module comment). */
  trustProxy: boolean
}

export class HttpConnectionLimits {
  /** Each counted socket and the address it counts against. */
  private readonly counted = new Map<Socket, string>()
  private readonly perAddress = new Map<string, number>()
  /** Sockets destroyed for being past a cap, since start. */
  refused = 0

  /**
   * The one 'close' listener every counted socket shares (called with the socket as `this`): a
   * closure per socket, and `once`'s wrapper, would cost each idle connection a few hundred bytes.
   */
  private readonly onClose: (this: Socket) => void

  constructor(private readonly options: HttpConnectionLimitOptions) {
    const limits = this
    this.onClose = function onClose(this: Socket) {
      limits.release(this)
    }
  }

  /** Open HTTP sockets (not upgraded). */
  get open(): number {
    return this.counted.size
  }

  /** The `connection` listener for node:http: counts `socket`, or destroys it past a cap. */
  readonly connection = (socket: Socket): void => {
    const address = socket.remoteAddress ?? 'unknown'
    if (
      this.counted.size >= this.options.maxHttpConnections ||
      (!this.options.trustProxy &&
        (this.perAddress.get(address) ?? 0) >= this.options.maxHttpConnectionsPerIp)
    ) {
      this.refused++
      socket.destroy()
      return
    }
    this.counted.set(socket, address)
    increment(this.perAddress, address)
    socket.on('close', this.onClose)
  }

  /** `socket` asked to upgrade: it stops counting as an HTTP socket. */
  upgraded(socket: Socket): void {
    this.release(socket)
    socket.off('close', this.onClose)
  }

  private release(socket: Socket): void {
    const address = this.counted.get(socket)
    if (address === undefined) return
    this.counted.delete(socket)
    decrement(this.perAddress, address)
  }
}
