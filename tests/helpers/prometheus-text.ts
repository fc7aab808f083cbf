/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests of `GET /metrics`:
 *
 *   line    = "# HELP " name " " text | "# TYPE " name " " type | "#" comment | sample | ""
 *   sample  = name [ "{" label { "," label } [ "," ] "}" ] " " value [ " " timestamp ]
 *   label   = labelName "=" '"' escaped '"'          (escapes: \\ \" \n)
 *
 * Anything else throws, naming the line: a sample outside any declared family, a family typed
 * twice, a repeated series, a bad value, an unknown type. (Written here rather than depending on
 * npm's `parse-prometheus-text-format`, which ships no types and is not meant as a validator.)
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface MetricFamily {
  name: string
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
  help: string
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
/** Sample-name suffixes that belong to a histogram or summary family. */
const SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
}

/** Parses an exposition into its families by name; throws on any malformed line. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>()
  const seen = new Set<string>()
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  lines.forEach((line, index) => {
    const fail = (why: string): never => {
      throw new Error(`metrics line ${index + 1}: ${why}: ${JSON.stringify(line)}`)
    }
    if (line === '') return
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!match) return // a plain comment
      const [, keyword, name, rest] = match
      if (!NAME.test(name)) fail('bad metric name')
      const family = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] }
      families.set(name, family)
      if (keyword === 'HELP') family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\')
      else {
        if (!TYPES.has(rest)) fail('unknown type')
        if (family.samples.length > 0) fail('TYPE after samples')
        family.type = rest as MetricFamily['type']
      }
      return
    }
    const sample = parseSample(line, fail)
    const family = familyOf(families, sample.name) ?? fail('sample of an undeclared metric')
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`
    if (seen.has(key)) fail('repeated series')
    seen.add(key)
    family.samples.push(sample)
  })
  return families
}

function familyOf(families: Map<string, MetricFamily>, sampleName: string): MetricFamily | undefined {
  const exact = families.get(sampleName)
  if (exact) return exact
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!sampleName.endsWith(suffix)) continue
      const family = families.get(sampleName.slice(0, -suffix.length))
      if (family?.type === type) return family
    }
  }
  return undefined
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const nameEnd = line.search(/[{ ]/)
  if (nameEnd <= 0) fail('no sample name')
  const name = line.slice(0, nameEnd)
  if (!NAME.test(name)) fail('bad sample name')
  const labels: Record<string, string> = {}
  let pos = nameEnd
  if (line[pos] === '{') {
    pos++
    while (line[pos] !== '}') {
      const eq = line.indexOf('=', pos)
      if (eq < 0) fail('label without "="')
      const labelName = line.slice(pos, eq)
      if (!LABEL_NAME.test(labelName)) fail('bad label name')
      if (labelName in labels) fail('repeated label')
      if (line[eq + 1] !== '"') fail('unquoted label value')
      let value = ''
      pos = eq + 2
      for (;;) {
        const ch = line[pos++]
        if (ch === undefined) fail('unterminated label value')
        if (ch === '"') break
        if (ch !== '\\') {
          value += ch
          continue
        }
        const escaped = line[pos++]
        if (escaped === 'n') value += '\n'
        else if (escaped === '\\' || escaped === '"') value += escaped
        else fail('bad escape in label value')
      }
      labels[labelName] = value
      if (line[pos] === ',') pos++
      else if (line[pos] !== '}') fail('expected "," or "}" after a label')
    }
    pos++
  }
  if (line[pos] !== ' ') fail('expected a space before the value')
  const parts = line.slice(pos + 1).split(' ')
  if (parts.length > 2) fail('trailing fields')
  const value = parseValue(parts[0]) ?? fail('bad value')
  if (parts.length === 2 && !/^-?\d+$/.test(parts[1])) fail('bad timestamp')
  return { name, labels, value }
}

function parseValue(text: string): number | undefined {
  // As Prometheus reads them (Go's ParseFloat): NaN and Inf in any case (prom-client writes "Nan").
  const special = text.toLowerCase()
  if (special === '+inf' || special === 'inf') return Number.POSITIVE_INFINITY
  if (special === '-inf') return Number.NEGATIVE_INFINITY
  if (special === 'nan') return Number.NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined
  return Number(text)
}

/**
 * The value of the one sample named `name` whose labels include `labels` (0 when there is none);
 * throws if several match.
 */
export function sampleValue(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matching = [...families.values()]
    .flatMap((family) => family.samples)
    .filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
  if (matching.length > 1)
    throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`)
  return matching[0]?.value ?? 0
}
