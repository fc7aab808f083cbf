/**
 * Renders result rows as a text table (stdout) and as an SVG bar chart (one panel per headline
 * figure). "upd" is a document update; awareness updates have their own column.
 */
import { fmt, type Row } from './workloads.ts'

const COLUMNS: Array<[string, (row: Row) => string]> = [
  ['system', (r) => r.system],
  ['workload', (r) => r.workload],
  ['doc upd/s', (r) => fmt(r.updatesPerSec, 0)],
  ['aw upd/s', (r) => fmt(r.awarenessPerSec, 0)],
  ['p50 ms', (r) => fmt(r.p50Ms, 2)],
  ['p95 ms', (r) => fmt(r.p95Ms, 2)],
  ['p99 ms', (r) => fmt(r.p99Ms, 2)],
  ['cpu %', (r) => fmt(r.cpuPct, 1)],
  ['cpu µs/doc upd', (r) => fmt(r.cpuUsPerUpdate, 1)],
  ['kernel %', (r) => fmt(r.kernelSharePct, 0)],
  ['RSS MB', (r) => fmt(r.rssBytes === null ? null : r.rssBytes / 2 ** 20, 1)],
  ['loop p99 ms', (r) => fmt(r.loopDelayP99Ms, 1)],
  ['loop max ms', (r) => fmt(r.loopDelayMaxMs, 0)],
  ['gen cpu %', (r) => fmt(r.generatorCpuPct, 0) + (r.generatorBound ? '!' : '')],
  ['other %', (r) => fmt(r.otherLoadPct, 0)],
  ['deliv %', (r) => fmt(r.delivery === null || r.delivery === undefined ? null : r.delivery * 100, 2)],
  [
    'KB/conn',
    (r) =>
      fmt(
        r.bytesPerConnection === null || r.bytesPerConnection === undefined
          ? null
          : r.bytesPerConnection / 1024,
        1,
      ),
  ],
  ['cold ms', (r) => fmt(r.coldLoadMs, 0)],
  ['limit', (r) => r.limit ?? ''],
  ['runs', (r) => String(r.runs)],
]

/** A per-second series (ms) as whole numbers, '-' for a second without data. */
export function formatPerSecond(values: number[] | undefined): string {
  return (values ?? []).map((ms) => (Number.isFinite(ms) ? ms.toFixed(0) : '-')).join(' ')
}

/** A fixed-width table; `!` marks a generator-bound figure (see Row.generatorBound). */
export function renderTable(rows: Row[]): string {
  const cells = [COLUMNS.map(([title]) => title), ...rows.map((row) => COLUMNS.map(([, get]) => get(row)))]
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => line[i].length)))
  const lines = cells.map((line) =>
    line.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '),
  )
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.system} / ${r.workload}: ${r.note}`)
  return [...lines, ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n')
}

/** A Markdown version of the table for the README. */
export function renderMarkdown(rows: Row[]): string {
  const header = `| ${COLUMNS.map(([t]) => t).join(' | ')} |`
  const rule = `|${COLUMNS.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`
  return [header, rule, ...rows.map((row) => `| ${COLUMNS.map(([, get]) => get(row)).join(' | ')} |`)].join(
    '\n',
  )
}

interface Panel {
  title: string
  workload: string
  value: (row: Row) => number | null | undefined
  unit: string
  lowerIsBetter: boolean
}

const PANELS: Panel[] = [
  {
    title: 'Typing: server CPU per document update',
    workload: 'typing',
    value: (r) => r.cpuUsPerUpdate,
    unit: 'µs',
    lowerIsBetter: true,
  },
  {
    title: 'Typing: p50 edit-to-remote latency',
    workload: 'typing',
    value: (r) => r.p50Ms,
    unit: 'ms',
    lowerIsBetter: true,
  },
  {
    title: 'Typing: p99 edit-to-remote latency',
    workload: 'typing',
    value: (r) => r.p99Ms,
    unit: 'ms',
    lowerIsBetter: true,
  },
  {
    title: 'Ramp: max sustained document updates/s at p99 ≤ 50 ms',
    workload: 'ramp',
    value: (r) => r.updatesPerSec,
    unit: '/s',
    lowerIsBetter: false,
  },
  {
    title: 'Big room: server CPU per document update',
    workload: 'big-room',
    value: (r) => r.cpuUsPerUpdate,
    unit: 'µs',
    lowerIsBetter: true,
  },
  {
    title: 'Idle: server memory per connection',
    workload: 'idle',
    value: (r) => (r.bytesPerConnection ?? Number.NaN) / 1024,
    unit: 'KB',
    lowerIsBetter: true,
  },
  {
    title: 'Cold load of S1 (1 MB of text)',
    workload: 'cold-load',
    value: (r) => r.coldLoadMs,
    unit: 'ms',
    lowerIsBetter: true,
  },
]

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** What qualifies a bar: a figure that may be the generator's limit, or a ramp cut short by other work. */
function flagOf(row: Row): string {
  if (row.limit === 'machine') return ' (machine busy)'
  return row.generatorBound ? ' (generator-bound)' : ''
}

/** Horizontal bar panels, one per headline figure, Tandem in a highlight colour. */
export function renderSvg(rows: Row[], caption: string): string {
  const width = 760
  const labelWidth = 190
  // Room right of the longest bar for its value and a '(generator-bound)' flag.
  const barMax = width - labelWidth - 170
  const parts: string[] = []
  let y = 58
  for (const panel of PANELS) {
    const data = rows
      .filter((r) => r.workload === panel.workload)
      .map((r) => ({ name: r.system, value: panel.value(r), flag: flagOf(r) }))
      .filter(
        (d): d is { name: string; value: number; flag: string } =>
          typeof d.value === 'number' && Number.isFinite(d.value),
      )
    if (data.length === 0) continue
    const max = Math.max(...data.map((d) => d.value)) || 1
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">${escapeXml(panel.title)} (${panel.unit}, ${panel.lowerIsBetter ? 'lower' : 'higher'} is better)</text>`,
    )
    y += 10
    for (const d of data) {
      const w = Math.max(1, (d.value / max) * barMax)
      const colour = d.name.startsWith('tandem') ? '#2b6cb0' : d.name === 'raw-relay' ? '#718096' : '#dd6b20'
      parts.push(`<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${escapeXml(d.name)}</text>`)
      parts.push(
        `<rect x="${labelWidth}" y="${y + 2}" width="${w.toFixed(1)}" height="14" fill="${colour}"/>`,
      )
      const label = `${d.value >= 100 ? d.value.toFixed(0) : d.value.toFixed(d.value >= 10 ? 1 : 2)}${d.flag}`
      parts.push(`<text x="${labelWidth + w + 6}" y="${y + 13}">${escapeXml(label)}</text>`)
      y += 18
    }
    y += 26
  }
  const height = y + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Tandem relay benchmark</text>`,
    `<text x="10" y="38" font-size="11" fill="#555">${escapeXml(caption)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n')
}
