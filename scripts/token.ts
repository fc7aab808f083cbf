/**
 * Mints a room link: `npm run token -- --room R --access view --ttl 7d [--name N] [--url http://host:port]`.
 * Signs with TANDEM_AUTH_SECRET (the server's secret) and prints the token, its id (what an admin
 * revokes) and a ready link `<url>/r/<room>#token=…`.
 */
import { parseArgs } from 'node:util'
import { isTokenName, MIN_SECRET_LENGTH, parseTtl, signRoomToken } from '../server/auth/tokens.ts'
import { defaultConfig } from '../server/config/config.ts'
import { isAccessLevel, roomNameProblem } from '../shared/protocol/index.ts'

const USAGE =
  'Usage: npm run token -- --room ROOM [--access view|edit|admin] [--ttl 7d] [--name NAME] [--url http://localhost:1234]\n' +
  '  --ttl: 30m, 12h, 7d or seconds (at most 365d, the server default --max-link-ttl)\n' +
  "  --name: the holder's name, what their writes are credited to\n" +
  '  The secret is read from TANDEM_AUTH_SECRET, as the server does.\n'

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`)
  process.exit(2)
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      options: {
        room: { type: 'string' },
        access: { type: 'string', default: 'edit' },
        ttl: { type: 'string', default: '7d' },
        name: { type: 'string' },
        url: { type: 'string', default: 'http://localhost:1234' },
        help: { type: 'boolean' },
      },
    }))
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`)
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return
  }
  const secret = process.env.TANDEM_AUTH_SECRET
  if (!secret) fail('TANDEM_AUTH_SECRET is not set; set it to the secret the server runs with')
  if (secret.length < MIN_SECRET_LENGTH)
    fail(`TANDEM_AUTH_SECRET must be at least ${MIN_SECRET_LENGTH} characters`)
  const room = values.room
  if (typeof room !== 'string') fail(`--room is required\n${USAGE}`)
  const problem = roomNameProblem(room)
  if (problem) fail(`--room: ${problem}`)
  const access = values.access
  if (!isAccessLevel(access)) fail(`--access must be view, edit or admin, got "${String(access)}"`)
  const ttlSeconds = parseTtl(String(values.ttl))
  if (ttlSeconds === null) fail(`--ttl must look like 30m, 12h, 7d or 3600, got "${String(values.ttl)}"`)
  if (ttlSeconds > defaultConfig.maxLinkTtlSeconds) {
    fail(`--ttl may be at most ${defaultConfig.maxLinkTtlSeconds / 86_400}d (longer tokens are refused)`)
  }
  const base = String(values.url).replace(/\/$/, '')
  const name = values.name === undefined ? undefined : String(values.name)
  if (name !== undefined && !isTokenName(name)) fail('--name must be a name of 1-64 characters, no controls')
  const minted = await signRoomToken(secret, { room, access, ttlSeconds, name })
  process.stdout.write(
    `token: ${minted.token}\njti: ${minted.jti}\nexpires: ${new Date(minted.expiresAt).toISOString()}\n` +
      `link: ${base}/r/${room}#token=${minted.token}\n`,
  )
}

void main()
