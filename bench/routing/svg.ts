/**
 * A small SVG line chart: x = request rate, y = TTFT p90, one line per strategy. Lines differ in
 * colour (a colour-blind-safe palette), dash pattern and marker shape, so lines that overlap stay
 * told apart; y is logarithmic when the values span more than 20×, with ticks on round numbers.
 */
const COLORS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000', '#B8860B', '#7f7f7f', '#8c564b', '#393b79', '#637939', '#bcbd22']
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '12 4']
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const

/** Round tick values for a linear axis from 0 to max (1, 2 or 5 × 10^k steps). */
export function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1]
  const raw = max / count
  const pow = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow
  const ticks: number[] = []
  for (let v = 0; v <= max + step / 2; v += step) ticks.push(Number(v.toPrecision(12)))
  return ticks
}

/** Round ticks (1, 2, 5 × 10^k) covering [min, max] on a log axis. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = []
  for (let k = Math.floor(Math.log10(min)); k <= Math.ceil(Math.log10(max)); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k
      if (v >= min / 2 && v <= max * 2) ticks.push(Number(v.toPrecision(12)))
    }
  }
  return ticks
}

const label = (v: number) => (v >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : String(Number(v.toPrecision(3))))

function marker(kind: (typeof MARKERS)[number], cx: number, cy: number, color: string): string {
  const r = 3.5
  const at = (dx: number, dy: number) => `${(cx + dx).toFixed(1)},${(cy + dy).toFixed(1)}`
  if (kind === 'circle') return `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="${r}" fill="${color}"/>`
  if (kind === 'square') return `<rect x="${(cx - r).toFixed(1)}" y="${(cy - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`
  if (kind === 'triangle') return `<polygon points="${at(0, -r - 1)} ${at(r + 1, r)} ${at(-r - 1, r)}" fill="${color}"/>`
  if (kind === 'diamond') return `<polygon points="${at(0, -r - 1)} ${at(r + 1, 0)} ${at(0, r + 1)} ${at(-r - 1, 0)}" fill="${color}"/>`
  return `<path d="M${at(-r, -r)} L${at(r, r)} M${at(-r, r)} L${at(r, -r)}" stroke="${color}" stroke-width="2"/>`
}

export function lineChart(title: string, series: { name: string; points: [number, number][] }[], xLabel: string, yLabel: string): string {
  const W = 780
  const H = 440
  const left = 70
  const right = 210
  const top = 44
  const bottom = 50
  const xs = series.flatMap((s) => s.points.map((p) => p[0]))
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v))
  const xMin = Math.min(...xs)
  const xMax = Math.max(...xs)
  const positive = ys.filter((v) => v > 0)
  const yLow = Math.min(...positive)
  const yHigh = Math.max(...ys, 1)
  const log = positive.length > 0 && yHigh / yLow > 20
  const ticks = log ? logTicks(yLow, yHigh) : linearTicks(yHigh * 1.05)
  const tMin = log ? ticks[0] : 0
  const tMax = ticks[ticks.length - 1]
  const x = (v: number) => left + ((v - xMin) / (xMax - xMin || 1)) * (W - left - right)
  const frac = (v: number) => (log ? (Math.log10(Math.max(v, tMin)) - Math.log10(tMin)) / (Math.log10(tMax) - Math.log10(tMin)) : v / tMax)
  const y = (v: number) => H - bottom - frac(v) * (H - top - bottom)
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(left + W - right) / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="#333"/>`,
    `<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(top + H - bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + H - bottom) / 2})">${esc(yLabel + (log ? ', log scale' : ''))}</text>`
  ]
  for (const v of ticks) out.push(`<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${W - right}" y2="${y(v).toFixed(1)}" stroke="#e6e6e6"/><text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${label(v)}</text>`)
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) out.push(`<text x="${x(v).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle">${v}</text>`)
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]
    const dash = DASHES[i % DASHES.length]
    const shape = MARKERS[i % MARKERS.length]
    const pts = s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts}"/>`)
    for (const [a, b] of s.points) out.push(marker(shape, x(a), y(b), c))
    const ly = top + i * 20
    out.push(`<line x1="${W - right + 10}" y1="${ly}" x2="${W - right + 36}" y2="${ly}" stroke="${c}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`)
    out.push(marker(shape, W - right + 23, ly, c))
    out.push(`<text x="${W - right + 42}" y="${ly + 4}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}
