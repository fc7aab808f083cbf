/**
 * A TCP proxy for multi-instance tests, standing where a load balancer or a network would:
 * - in front of several Tandem instances it spreads new connections round-robin and skips a
 *   backend that refuses (a killed instance), as a balancer with passive health checks does;
 * - in front of Redis or PostgreSQL it can `cut()` the service off (every open connection reset,
 *   new ones refused) and `restore()` it, or add latency to every chunk (`delayMs`).
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface Backend {
  host: string
  port: number
}

export class TcpProxy {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private next = 0
  private down = false
  /** Latency added to every chunk in both directions. */
  delayMs = 0
  port = 0

  constructor(private readonly backends: Backend[]) {
    this.server = createServer((client) => this.accept(client))
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this.port
  }

  /** Resets every open connection and refuses new ones until `restore()`. */
  cut(): void {
    this.down = true
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
  }

  restore(): void {
    this.down = false
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket): void {
    if (this.down) {
      client.destroy()
      return
    }
    this.track(client)
    client.pause()
    const first = this.next++ % this.backends.length
    const attempt = (tried: number): void => {
      if (tried === this.backends.length || client.destroyed) {
        client.destroy()
        return
      }
      const backend = this.backends[(first + tried) % this.backends.length]
      const upstream = connect(backend.port, backend.host)
      let connected = false
      upstream.once('error', () => {
        if (!connected) attempt(tried + 1)
      })
      upstream.once('connect', () => {
        connected = true
        this.track(upstream)
        this.pipe(client, upstream)
        this.pipe(upstream, client)
        client.resume()
      })
    }
    attempt(0)
  }

  private pipe(from: Socket, to: Socket): void {
    from.on('data', (chunk) => {
      if (this.delayMs === 0) to.write(chunk)
      else setTimeout(() => to.destroyed || to.write(chunk), this.delayMs)
    })
    from.on('end', () => setTimeout(() => to.end(), this.delayMs))
    from.on('error', () => to.destroy())
    from.on('close', () => to.destroy())
  }

  private track(socket: Socket): void {
    this.sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => this.sockets.delete(socket))
  }
}

/**
 * A proxy in front of the service at `url` (closed by `cleanups` after the test), and `url` with
 * its host swapped for the proxy's: connect through `via`, cut with `proxy`.
 */
export async function proxyFor(
  url: string,
  defaultPort: number,
  cleanups: Array<() => unknown>,
): Promise<{ proxy: TcpProxy; via: string }> {
  const target = new URL(url)
  const proxy = new TcpProxy([{ host: target.hostname, port: Number(target.port || defaultPort) }])
  await proxy.listen()
  cleanups.push(() => proxy.close())
  target.host = `127.0.0.1:${proxy.port}`
  return { proxy, via: target.toString() }
}
