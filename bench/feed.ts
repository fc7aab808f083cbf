/**
 * `npm run bench:feed`: the change-feed benchmark (bench/feed/run.ts says what it measures). Writes
 * the samples, medians and target ratios to bench/results/feed.json (or --out) and prints the medians.
 *
 *   npm run bench:feed -- [--runs 3] [--subscribers 10000] [--rooms 100] [--fanout 1000]
 *                         [--changes 500] [--resume 1000] [--storage sqlite|memory] [--out FILE]
 *                         [--profile DIR]   (a .cpuprofile of Tandem's fan-out windows)
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { runFeedBench } from './feed/run.ts'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      subscribers: { type: 'string', default: '10000' },
      rooms: { type: 'string', default: '100' },
      fanout: { type: 'string', default: '1000' },
      changes: { type: 'string', default: '500' },
      resume: { type: 'string', default: '1000' },
      storage: { type: 'string', default: 'sqlite' },
      out: { type: 'string', default: 'bench/results/feed.json' },
      profile: { type: 'string' },
    },
  })
  const storage = values.storage === 'memory' ? 'memory' : 'sqlite'
  const result = await runFeedBench({
    runs: Number(values.runs),
    subscribers: Number(values.subscribers),
    rooms: Number(values.rooms),
    fanout: Number(values.fanout),
    changes: Number(values.changes),
    resume: Number(values.resume),
    storage,
    profileDir: values.profile ?? null,
    pin: true,
    log: (line) => console.log(line),
  })
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`)
  console.log(JSON.stringify({ medians: result.medians, targets: result.targets }, null, 2))
}

await main()
