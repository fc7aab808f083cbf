/**
 * Renders result rows as a text table (stdout) and as an SVG bar chart (one panel per headline
 * figure). "upd" is a document update; awareness updates have their own column. "cpu" is the
 * server processes' CPU (all instances of a system that runs several); the CPU of the PostgreSQL
 * and Redis processes a system runs on has columns (and bar segments) of its own, shown only when
 * some row has them; so do the edit positions (trace or uniform) and the CPU cap of a capped ramp.
 */
import { fmt, type Row } from './workloads.ts'

type Column = [string, (row: Row) => string]

const COLUMNS: Column[] = [
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

/** Columns inserted after the workload when a row has the field. */
const WORKLOAD_COLUMNS: Array<{ field: keyof Row; column: Column; legend: string }> = [
  {
    field: 'positions',
    column: ['positions', (r) => r.positions ?? ''],
    legend: "positions: where the clients edit, replaying the trace's positions or at uniformly random ones",
  },
  {
    field: 'cpuQuotaPct',
    column: ['cpu cap %', (r) => (r.cpuQuotaPct === undefined ? '' : String(r.cpuQuotaPct))],
    legend:
      "cpu cap %: the server's CPU budget (cgroup CFS quota, % of one core); throttled %: share of the quota periods it ran out in",
  },
  {
    field: 'throttledPct',
    column: ['throttled %', (r) => (r.throttledPct === undefined ? '' : fmt(r.throttledPct, 0))],
    legend: '',
  },
]

/** Columns of the systems on services, inserted after CPU per update when a row has the field. */
const SERVICE_COLUMNS: Array<{ field: keyof Row; column: Column; legend: string }> = [
  {
    field: 'instances',
    column: ['procs', (r) => String(r.instances ?? 1)],
    legend:
      'procs: server processes; their CPU, RSS and loop delays are summed (CPU, RSS) or the worst (delays)',
  },
  {
    field: 'postgresCpuUsPerUpdate',
    column: ['pg µs/upd', (r) => fmt(r.postgresCpuUsPerUpdate, 1)],
    legend: "pg µs/upd: CPU of the PostgreSQL backends serving the run's own database, per document update",
  },
  {
    field: 'postgresSharedCpuUsPerUpdate',
    column: ['pg shared µs/upd', (r) => fmt(r.postgresSharedCpuUsPerUpdate, 1)],
    legend:
      "pg shared µs/upd: PostgreSQL's shared processes (postmaster, checkpointer, WAL and background writers), machine-wide",
  },
  {
    field: 'redisCpuUsPerUpdate',
    column: ['redis µs/upd', (r) => fmt(r.redisCpuUsPerUpdate, 1)],
    legend: 'redis µs/upd: CPU of the redis-server process, machine-wide, per document update',
  },
]

/** The columns `rows` need, and the legend of the optional ones among them. */
function columnsFor(rows: Row[]): { columns: Column[]; legend: string[] } {
  const present = (list: typeof SERVICE_COLUMNS) =>
    list.filter(({ field }) => rows.some((r) => r[field] !== undefined))
  const workload = present(WORKLOAD_COLUMNS)
  const extra = present(SERVICE_COLUMNS)
  const at = COLUMNS.findIndex(([title]) => title === 'cpu µs/doc upd') + 1
  return {
    columns: [
      ...COLUMNS.slice(0, 2),
      ...workload.map((e) => e.column),
      ...COLUMNS.slice(2, at),
      ...extra.map((e) => e.column),
      ...COLUMNS.slice(at),
    ],
    legend: [
      ...workload.map((e) => e.legend).filter(Boolean),
      ...(extra.length
        ? [
            'cpu %, cpu µs/doc upd: the server processes only (PostgreSQL and Redis are not in them)',
            ...extra.map((e) => e.legend),
          ]
        : []),
    ],
  }
}

/** A per-second series (ms) as whole numbers, '-' for a second without data. */
export function formatPerSecond(values: number[] | undefined): string {
  return (values ?? []).map((ms) => (Number.isFinite(ms) ? ms.toFixed(0) : '-')).join(' ')
}

/** The PostgreSQL and Redis CPU per update of a row, for the progress log ('' for other systems). */
export function servicesCpu(row: Row): string {
  const parts = [
    ...(row.postgresCpuUsPerUpdate !== undefined ? [`postgres ${fmt(row.postgresCpuUsPerUpdate, 1)}`] : []),
    ...(row.postgresSharedCpuUsPerUpdate !== undefined
      ? [`postgres shared ${fmt(row.postgresSharedCpuUsPerUpdate, 1)}`]
      : []),
    ...(row.redisCpuUsPerUpdate !== undefined ? [`redis ${fmt(row.redisCpuUsPerUpdate, 1)}`] : []),
  ]
  return parts.length ? ` (+ ${parts.join(', ')} µs/doc upd)` : ''
}

/** A fixed-width table; `!` marks a generator-bound figure (see Row.generatorBound). */
export function renderTable(rows: Row[]): string {
  const { columns, legend } = columnsFor(rows)
  const cells = [columns.map(([title]) => title), ...rows.map((row) => columns.map(([, get]) => get(row)))]
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)))
  const lines = cells.map((line) =>
    line.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '),
  )
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.system} / ${r.workload}: ${r.note}`)
  return [
    ...lines,
    ...(legend.length ? ['', 'columns:', ...legend.map((line) => `  ${line}`)] : []),
    ...(notes.length ? ['', 'notes:', ...notes] : []),
  ].join('\n')
}

/** A Markdown version of the table for the README. */
export function renderMarkdown(rows: Row[]): string {
  const { columns, legend } = columnsFor(rows)
  const header = `| ${columns.map(([t]) => t).join(' | ')} |`
  const rule = `|${columns.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`
  return [
    header,
    rule,
    ...rows.map((row) => `| ${columns.map(([, get]) => get(row)).join(' | ')} |`),
    ...(legend.length ? ['', ...legend.map((line) => `- ${line}`)] : []),
  ].join('\n')
}

interface Panel {
  /** '{cap}' stands for the rows' CPU cap (% of a core). */
  title: string
  workload: string
  value: (row: Row) => number | null | undefined
  /** Further segments of a bar (other processes' share of the same cost), drawn after the value. */
  segments?: (row: Row) => Segment[]
  unit: string
  lowerIsBetter: boolean
}

interface Segment {
  label: string
  value: number
  colour: string
}

/** CPU per update outside the server processes (PostgreSQL, Redis): lighter segments of a CPU bar. */
function serviceSegments(row: Row): Segment[] {
  const parts: Array<[string, number | null | undefined, string]> = [
    ['pg', row.postgresCpuUsPerUpdate, '#90cdf4'],
    ['shared', row.postgresSharedCpuUsPerUpdate, '#bee3f8'],
    ['redis', row.redisCpuUsPerUpdate, '#feb2b2'],
  ]
  return parts
    .filter((p): p is [string, number, string] => typeof p[1] === 'number' && Number.isFinite(p[1]))
    .map(([label, value, colour]) => ({ label, value, colour }))
}

const SEGMENTS_LEGEND =
  'server processes, then (lighter) pg: PostgreSQL backends of the run, shared: PostgreSQL shared processes, redis'

/** A ramp's maximum: the highest document update rate that held. */
function rampPanel(name: string, workload: string): Panel {
  const title = `${name}: max sustained document updates/s at p99 ≤ 50 ms`
  return { title, workload, value: (r) => r.updatesPerSec, unit: '/s', lowerIsBetter: false }
}

const PANELS: Panel[] = [
  {
    title: 'Typing: server CPU per document update',
    workload: 'typing',
    value: (r) => r.cpuUsPerUpdate,
    segments: serviceSegments,
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
  rampPanel('Ramp', 'ramp'),
  rampPanel('Capped ramp (server at {cap}% of a core)', 'capped-ramp'),
  rampPanel('Capped ramp ({cap}%), uniform-random positions', 'capped-ramp-uniform'),
  {
    title: 'Big room: server CPU per document update',
    workload: 'big-room',
    value: (r) => r.cpuUsPerUpdate,
    segments: serviceSegments,
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

/** A figure as a bar label: three significant digits or so. */
const figure = (value: number): string =>
  value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2)

/**
 * Horizontal bar panels, one per headline figure, Tandem in a highlight colour; a CPU bar of a
 * system on PostgreSQL or Redis goes on with those processes' CPU in lighter segments.
 */
export function renderSvg(rows: Row[], caption: string): string {
  const width = 760
  const labelWidth = 190
  const parts: string[] = []
  let y = 58
  for (const panel of PANELS) {
    const data = rows
      .filter((r) => r.workload === panel.workload)
      .map((r) => ({
        name: r.system,
        value: panel.value(r),
        flag: flagOf(r),
        segments: panel.segments?.(r) ?? [],
      }))
      .filter(
        (d): d is { name: string; value: number; flag: string; segments: Segment[] } =>
          typeof d.value === 'number' && Number.isFinite(d.value),
      )
    if (data.length === 0) continue
    const segmented = data.some((d) => d.segments.length > 0)
    const cap = rows.find((r) => r.workload === panel.workload)?.cpuQuotaPct
    const title = panel.title.replace('{cap}', String(cap ?? '?'))
    // Room right of the longest bar for its value and a '(generator-bound)' flag, or for the segments' figures.
    const barMax = width - labelWidth - (segmented ? 300 : 170)
    const total = (d: (typeof data)[number]): number => d.segments.reduce((sum, s) => sum + s.value, d.value)
    const max = Math.max(...data.map(total)) || 1
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">${escapeXml(title)} (${panel.unit}, ${panel.lowerIsBetter ? 'lower' : 'higher'} is better)</text>`,
    )
    if (segmented) {
      y += 14
      parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${escapeXml(SEGMENTS_LEGEND)}</text>`)
    }
    y += 10
    for (const d of data) {
      const colour = d.name.startsWith('tandem') ? '#2b6cb0' : d.name === 'raw-relay' ? '#718096' : '#dd6b20'
      parts.push(`<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${escapeXml(d.name)}</text>`)
      let x = labelWidth
      for (const [value, fill] of [
        [d.value, colour] as const,
        ...d.segments.map((s) => [s.value, s.colour] as const),
      ]) {
        const w = Math.max(1, (value / max) * barMax)
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="14" fill="${fill}"/>`,
        )
        x += w
      }
      const extra = d.segments.map((s) => ` + ${s.label} ${figure(s.value)}`).join('')
      parts.push(
        `<text x="${(x + 6).toFixed(1)}" y="${y + 13}">${escapeXml(`${figure(d.value)}${extra}${d.flag}`)}</text>`,
      )
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
