/**
 * Hocuspocus as a system under test: `@hocuspocus/server` with its stock configuration, in memory,
 * or with `@hocuspocus/extension-sqlite` when $HOCUSPOCUS_DB names a database file. Listens on
 * $PORT at $HOST and stops (storing pending documents) on SIGTERM, as Hocuspocus does by default.
 */
import { SQLite } from '@hocuspocus/extension-sqlite'
import { Server } from '@hocuspocus/server'

const database = process.env.HOCUSPOCUS_DB
const server = new Server({
  port: Number(process.env.PORT ?? 0),
  address: process.env.HOST ?? '127.0.0.1',
  quiet: true,
  extensions: database ? [new SQLite({ database })] : [],
})
await server.listen()
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: server.address.port })}\n`)
