/**
 * The limit: a `ws` relay that forwards each binary message, unchanged, to the other sockets of its
 * room (room = URL path). No CRDT work, no storage, no validation. Listens on $PORT at $HOST.
 */
import { createServer } from 'node:http'
import { type WebSocket, WebSocketServer } from 'ws'

const rooms = new Map<string, Set<WebSocket>>()
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
const http = createServer((_req, res) => res.writeHead(200).end('raw relay\n'))

http.on('upgrade', (req, socket, head) => {
  const room = (req.url ?? '/').slice(1).split('?')[0]
  wss.handleUpgrade(req, socket, head, (ws) => {
    const peers = rooms.get(room) ?? new Set<WebSocket>()
    rooms.set(room, peers)
    peers.add(ws)
    ws.on('message', (data: Buffer) => {
      for (const other of peers) if (other !== ws && other.readyState === 1) other.send(data)
    })
    ws.on('close', () => {
      peers.delete(ws)
      if (peers.size === 0) rooms.delete(room)
    })
  })
})

http.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(
    `${JSON.stringify({ msg: 'listening', port: (http.address() as { port: number }).port })}\n`,
  )
})
