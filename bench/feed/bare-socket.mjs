/**
 * What an idle TCP connection costs a Node.js server with nothing of Tandem's on it: the bound below
 * which no per-subscriber figure of bench:feed can go. Forks a server that accepts N connections
 * (`net`: a bare net.Server; `http`: node:http holding an SSE response per connection, as the feed's
 * floor does), and a client process that opens them; prints the server's RSS and heap growth per
 * connection after forced GCs.
 *
 *   node bench/feed/bare-socket.mjs [net|http] [N]      (raise `ulimit -n` above N first)
 */
import { fork, spawn } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const role = args[0] === 'server' || args[0] === 'client' ? args.shift() : 'run'
const [mode = 'net', count = '10000', port] = args
const n = Number(count)
const self = fileURLToPath(import.meta.url)

if (role === 'server') {
  const held = []
  const memory = () => {
    for (let i = 0; i < 4; i++) globalThis.gc()
    const { rss, heapUsed } = process.memoryUsage()
    return { rss, heapUsed }
  }
  let base
  const accepted = (socket) => {
    held.push(socket)
    if (held.length < n) return
    setTimeout(() => {
      const now = memory()
      const per = (a, b) => Math.round((a - b) / n)
      console.log(
        `${mode}: ${n} idle connections, ${per(now.rss, base.rss)} B RSS and ${per(now.heapUsed, base.heapUsed)} B heap each`,
      )
      process.exit(0)
    }, 2000)
  }
  const server =
    mode === 'http'
      ? http.createServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          res.write('retry: 2000\n\n')
          accepted(res)
        })
      : net.createServer(accepted)
  server.listen(0, '127.0.0.1', () => {
    base = memory()
    process.send(server.address().port)
  })
} else if (role === 'client') {
  const sockets = []
  let opened = 0
  const next = () => {
    if (opened >= n) return
    opened++
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      if (mode === 'http') socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n')
      next()
    })
    socket.on('error', () => {})
    sockets.push(socket)
  }
  for (let i = 0; i < 50; i++) next()
} else {
  const server = fork(self, ['server', mode, count], { execArgv: ['--expose-gc'] })
  server.on('message', (p) => {
    const client = spawn(process.execPath, [self, 'client', mode, count, String(p)], { stdio: 'inherit' })
    server.on('exit', () => client.kill())
  })
}
