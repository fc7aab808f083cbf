/**
 * The floor of the change-feed benchmark (bench/feed.ts): the least a server can do to fan a change
 * out over Server-Sent Events. Plain node:http, no Yjs, no store: `GET /api/rooms/<room>/events`
 * answers the same head and `retry:` as Tandem's feed and keeps the response; `POST
 * /api/rooms/<room>/text` `{index, delete, insert}` numbers the change, encodes one `event: change`
 * string of the same shape as Tandem's (server/feed/feed-events.ts) once, writes it to every
 * response of the room and answers `{changeId}`. Listens on HOST:PORT from the environment.
 */
import { createServer, type ServerResponse } from 'node:http'

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
  connection: 'close',
}

interface FloorRoom {
  streams: Set<ServerResponse>
  lastId: number
}

const rooms = new Map<string, FloorRoom>()
const roomOf = (name: string): FloorRoom => {
  let room = rooms.get(name)
  if (!room) {
    room = { streams: new Set(), lastId: 0 }
    rooms.set(name, room)
  }
  return room
}

const server = createServer((req, res) => {
  const [, api, rooms_, name, action] = (req.url ?? '').split('?')[0].split('/')
  if (api !== 'api' || rooms_ !== 'rooms' || !name) {
    res.writeHead(404).end()
    return
  }
  const room = roomOf(name)
  if (action === 'events' && req.method === 'GET') {
    res.writeHead(200, SSE_HEADERS)
    res.write('retry: 2000\n\n')
    room.streams.add(res)
    res.once('close', () => room.streams.delete(res))
    return
  }
  if (action === 'text' && req.method === 'POST') {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const edit = JSON.parse(Buffer.concat(chunks).toString()) as {
        index: number
        delete: number
        insert: string
      }
      const delta: object[] = []
      if (edit.index > 0) delta.push({ retain: edit.index })
      if (edit.delete > 0) delta.push({ delete: edit.delete })
      if (edit.insert) delta.push({ insert: edit.insert })
      const id = ++room.lastId
      const event = `event: change\nid: ${id}\ndata: {"delta":${JSON.stringify(delta)},"at":${Date.now()},"author":{"name":"HTTP API"}}\n\n`
      for (const stream of room.streams) stream.write(event)
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ changeId: id, index: edit.index }))
    })
    return
  }
  res.writeHead(404).end()
})
server.maxConnections = Number.POSITIVE_INFINITY
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1')
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    for (const room of rooms.values()) for (const stream of room.streams) stream.destroy()
    server.close(() => process.exit(0))
  })
