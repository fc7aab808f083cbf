/**
 * Seeds for randomized tests: every random choice a test makes comes from one seed, and a failure prints
 * the seed and the command that replays it (as Yjs' `applyRandomTests` and lib0's `testing` do). A run's
 * seed is `SEED` from the environment, else a random one; `seededTest` hands the test body a lib0 PRNG
 * created from it, and when the test fails it names the seed and the command that replays exactly that
 * test:
 *
 *   seed 123456; replay: SEED=123456 npx vitest run tests/x.test.ts -t "suite test name"
 *
 * The line goes at the head of the thrown error, so vitest shows it in the failure next to the assertion's
 * diff; a failure that never reaches the body's catch (a test timeout) gets it on stderr instead.
 */
import * as prng from 'lib0/prng'
import { it, type TestContext } from 'vitest'

/** Whether `SEED` was given: a replay, in which tests that sweep several seeds run only this one. */
export const seedGiven = process.env.SEED !== undefined

/** The run's seed: `SEED` from the environment (an integer 0..2^32-1), else a random one below 10^6. */
export const SEED = seedGiven ? parseSeed(process.env.SEED!) : Math.floor(Math.random() * 1_000_000)

function parseSeed(text: string): number {
  const seed = Number(text)
  if (!/^\d+$/.test(text.trim()) || seed > 0xffff_ffff) {
    throw new Error(`SEED must be an integer from 0 to 4294967295, got ${JSON.stringify(text)}`)
  }
  return seed
}

/** Options of `seededTest`. */
export interface SeededTestOptions {
  /** Seeds the body runs with, in order, stopping at the first failure. Default: `[SEED]`. */
  seeds?: readonly number[]
  /** Test timeout in milliseconds (the config's default otherwise). */
  timeout?: number
}

/**
 * Declares a test whose every random choice comes from a seed: `body` runs once per seed with a fresh
 * lib0 PRNG created from it. If it fails, the failure names the seed and the command that replays it.
 */
export function seededTest(
  name: string,
  body: (gen: prng.PRNG, seed: number) => void | Promise<void>,
  options: SeededTestOptions = {},
): void {
  const seeds = options.seeds ?? [SEED]
  it(
    name,
    async (context) => {
      let current = seeds[0]
      let reported = false
      context.onTestFailed(() => {
        if (!reported) console.error(replayLine(context, current))
      })
      for (const seed of seeds) {
        current = seed
        try {
          await body(prng.create(seed), seed)
        } catch (err) {
          reported = true
          throw withNote(err, replayLine(context, seed))
        }
      }
    },
    options.timeout,
  )
}

/** `count` consecutive seeds from the run's seed; only the run's seed when `SEED` was given. */
export function seedRange(count: number): number[] {
  return Array.from({ length: seedGiven ? 1 : count }, (_, i) => SEED + i)
}

/**
 * Returns `err` with `note` on a line before its message (anything thrown that is not an Error is wrapped
 * in one). The error itself is kept, so vitest still shows an assertion's expected/received diff.
 */
export function withNote(err: unknown, note: string): Error {
  const error = err instanceof Error ? err : new Error(String(err))
  error.message = `${note}\n${error.message}`
  return error
}

/** "seed N; replay: SEED=N npx vitest run <file> -t <full test name>" for the test `context` runs. */
function replayLine(context: TestContext, seed: number): string {
  const { task } = context
  const names = [task.name]
  for (let suite = task.suite; suite && suite !== task.file; suite = suite.suite) names.unshift(suite.name)
  // vitest matches -t as a regular expression against the suite names and the test name joined by spaces.
  const pattern = names.join(' ').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return `seed ${seed}; replay: SEED=${seed} npx vitest run ${task.file.name} -t ${shellQuote(pattern)}`
}

/** Double quotes when nothing in `s` is special inside them (the common case), single quotes otherwise. */
function shellQuote(s: string): string {
  if (!/["$`!]|\\\\/.test(s)) return `"${s}"`
  return `'${s.replaceAll("'", `'\\''`)}'`
}
