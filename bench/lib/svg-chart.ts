/** A tiny grouped horizontal bar chart as SVG text (log-scale values), for the benchmark results. */

/** One group of bars (e.g. a trace) with one value per series (e.g. an engine). */
export interface BarGroup {
  label: string
  values: (number | null)[]
}

const COLORS = ['#2f6fdf', '#e08a1e', '#8a8a8a', '#2e9e5b', '#b04fc4']
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** An SVG chart: one row per group, one bar per series, lengths on a log10 scale of `values`. */
export function barChartSvg(title: string, unit: string, series: string[], groups: BarGroup[]): string {
  const bar = 12
  const rowHeight = series.length * bar + 12
  const left = 170
  const width = 760
  const plot = width - left - 90
  const top = 40 + series.length * 16
  const height = top + groups.length * rowHeight + 20
  const all = groups.flatMap((g) => g.values).filter((v): v is number => v !== null && v > 0)
  const lo = Math.floor(Math.log10(Math.min(...all)))
  const hi = Math.ceil(Math.log10(Math.max(...all)))
  const x = (v: number) => ((Math.log10(v) - lo) / (hi - lo)) * plot
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ]
  series.forEach((name, i) => {
    out.push(
      `<rect x="${left}" y="${26 + i * 16}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
    )
    out.push(`<text x="${left + 14}" y="${35 + i * 16}">${esc(name)}</text>`)
  })
  for (let p = lo; p <= hi; p++) {
    const gx = left + x(10 ** p)
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 16}" stroke="#ddd"/>`)
    out.push(`<text x="${gx}" y="${height - 4}" text-anchor="middle" fill="#666">1e${p} ${esc(unit)}</text>`)
  }
  groups.forEach((g, gi) => {
    const y0 = top + gi * rowHeight
    out.push(`<text x="${left - 6}" y="${y0 + rowHeight / 2}" text-anchor="end">${esc(g.label)}</text>`)
    g.values.forEach((v, si) => {
      if (v === null || v <= 0) return
      const y = y0 + si * bar
      const w = Math.max(1, x(v))
      out.push(
        `<rect x="${left}" y="${y}" width="${w}" height="${bar - 2}" fill="${COLORS[si % COLORS.length]}"/>`,
      )
      out.push(
        `<text x="${left + w + 4}" y="${y + bar - 3}" fill="#333">${Math.round(v).toLocaleString('en')}</text>`,
      )
    })
  })
  out.push('</svg>')
  return out.join('\n')
}
