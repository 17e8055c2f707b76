/** A small SVG line chart: x = request rate, y = TTFT p90, one line per strategy. */
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#8c6d31']

export function lineChart(title: string, series: { name: string; points: [number, number][] }[], xLabel: string, yLabel: string): string {
  const W = 760
  const H = 420
  const left = 70
  const right = 200
  const top = 40
  const bottom = 50
  const xs = series.flatMap((s) => s.points.map((p) => p[0]))
  const ys = series.flatMap((s) => s.points.map((p) => p[1]))
  const xMin = Math.min(...xs)
  const xMax = Math.max(...xs)
  const yMax = Math.max(...ys) * 1.1 || 1
  const x = (v: number) => left + ((v - xMin) / (xMax - xMin || 1)) * (W - left - right)
  const y = (v: number) => H - bottom - (v / yMax) * (H - top - bottom)
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - right / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="#333"/>`,
    `<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${(top + H - bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + H - bottom) / 2})">${esc(yLabel)}</text>`
  ]
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4
    out.push(`<line x1="${left}" y1="${y(v)}" x2="${W - right}" y2="${y(v)}" stroke="#eee"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`)
  }
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) out.push(`<text x="${x(v)}" y="${H - bottom + 16}" text-anchor="middle">${v}</text>`)
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]
    const pts = s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`)
    for (const [a, b] of s.points) out.push(`<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3" fill="${c}"/>`)
    out.push(`<rect x="${W - right + 12}" y="${top + i * 18 - 9}" width="12" height="4" fill="${c}"/><text x="${W - right + 30}" y="${top + i * 18 - 3}">${esc(s.name)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}
