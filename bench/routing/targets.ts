/**
 * The routing issues' targets, checked on one benchmark run's medians: each line compares
 * strategies measured in the same run (ratios, not absolute numbers).
 */

export interface Median {
  ttftP90: number
  /** Output tokens per simulated second. */
  throughput: number
}

/** workload → rate → strategy → medians */
export type Results = Map<string, Map<number, Map<string, Median>>>

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)} %`
const ms = (x: number) => `${x.toFixed(0)} ms`

function at(results: Results, workload: string, rate: number, strategy: string): Median | undefined {
  return results.get(workload)?.get(rate)?.get(strategy)
}

/** Markdown lines: what was measured against each target, and whether it is met. */
export function checkTargets(results: Results): string[] {
  const lines: string[] = []
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**')
  const b2b = results.get('b2b-saas')
  if (b2b) {
    const rates = [...b2b.keys()].sort((a, b) => a - b)
    const top = rates[rates.length - 1]
    const random = at(results, 'b2b-saas', top, 'random')
    const prefix = at(results, 'b2b-saas', top, 'prefix-cache')
    const aware = at(results, 'b2b-saas', top, 'cache-aware')
    if (random && prefix && aware) {
      const best = Math.min(prefix.ttftP90, aware.ttftP90)
      lines.push(`| b2b-saas at ${top} req/s (random: TTFT p90 ${ms(random.ttftP90)}) | prefix-cache ${ms(prefix.ttftP90)}, cache-aware ${ms(aware.ttftP90)}: ${(random.ttftP90 / best).toFixed(1)}× lower | prefix-aware ≥ 3× lower than random — ${verdict(random.ttftP90 / best >= 3)} |`)
    }
    for (const rate of rates) {
      const r = at(results, 'b2b-saas', rate, 'random')
      const p = at(results, 'b2b-saas', rate, 'prefix-cache')
      const a = at(results, 'b2b-saas', rate, 'cache-aware')
      if (!r || !p || !a) continue
      lines.push(`| b2b-saas at ${rate} req/s: cache-aware vs random, vs prefix-cache | ${ms(a.ttftP90)} vs ${ms(r.ttftP90)} (${(a.ttftP90 / r.ttftP90).toFixed(2)}×), vs ${ms(p.ttftP90)} (${(a.ttftP90 / p.ttftP90).toFixed(2)}×) | ≤ 0.2× random — ${verdict(a.ttftP90 <= 0.2 * r.ttftP90)}; ≤ 0.5× prefix-cache — ${verdict(a.ttftP90 <= 0.5 * p.ttftP90)} |`)
    }
  }
  for (const [rate, byStrategy] of results.get('low-sharing') ?? []) {
    const base = byStrategy.get('least-request')
    if (!base) continue
    const aware = byStrategy.get('cache-aware')
    if (aware) lines.push(`| low-sharing at ${rate} req/s: cache-aware vs least-request (${ms(base.ttftP90)}) | ${ms(aware.ttftP90)} (${pct(aware.ttftP90 / base.ttftP90 - 1)}) | within 5 % (or better) — ${verdict(aware.ttftP90 <= 1.05 * base.ttftP90)} |`)
    const worse = [...byStrategy].filter(([, m]) => m.ttftP90 > 1.1 * base.ttftP90).map(([s, m]) => `${s} ${pct(m.ttftP90 / base.ttftP90 - 1)}`)
    lines.push(`| low-sharing at ${rate} req/s: strategies > 10 % worse than least-request | ${worse.length > 0 ? worse.join(', ') : 'none'} | none — ${verdict(worse.length === 0)} |`)
  }
  for (const [rate, byStrategy] of results.get('hot-tenant') ?? []) {
    const base = byStrategy.get('least-request')
    const aware = byStrategy.get('cache-aware')
    const prefix = byStrategy.get('prefix-cache')
    if (!base || !aware) continue
    lines.push(`| hot-tenant at ${rate} req/s: cache-aware vs least-request (${ms(base.ttftP90)})${prefix ? `, prefix-cache ${ms(prefix.ttftP90)}` : ''} | ${ms(aware.ttftP90)} (${(aware.ttftP90 / base.ttftP90).toFixed(2)}×) | ≤ 1.10× least-request — ${verdict(aware.ttftP90 <= 1.1 * base.ttftP90)} |`)
  }
  for (const [rate, byStrategy] of results.get('heterogeneous') ?? []) {
    const base = byStrategy.get('least-request')
    if (!base) continue
    for (const s of ['least-latency', 'cache-aware']) {
      const m = byStrategy.get(s)
      if (!m) continue
      const ok = m.throughput > base.throughput && m.ttftP90 <= base.ttftP90
      lines.push(`| heterogeneous at ${rate} req/s: ${s} vs least-request | ${m.throughput.toFixed(0)} vs ${base.throughput.toFixed(0)} tokens/s at TTFT p90 ${ms(m.ttftP90)} vs ${ms(base.ttftP90)} | more throughput at no worse TTFT p90 — ${verdict(ok)} |`)
    }
  }
  return lines.length > 0 ? ['| check | measured (same run) | goal |', '|---|---|---|', ...lines] : []
}

/**
 * The table a deciding reader wants first: for every workload at its lowest and highest rate,
 * cache-aware's TTFT p90 beside least-request, random and prefix-cache, and the best strategy.
 */
export function headline(results: Results): string[] {
  const lines = [
    '| workload | rate | cache-aware | least-request | random | prefix-cache | best of all | cache-aware |',
    '|---|---:|---:|---:|---:|---:|---|---|'
  ]
  for (const [workload, byRate] of results) {
    const rates = [...byRate.keys()].sort((a, b) => a - b)
    for (const rate of [...new Set([rates[0], rates[rates.length - 1]])]) {
      const byStrategy = byRate.get(rate)!
      const aware = byStrategy.get('cache-aware')
      if (!aware) continue
      const cell = (s: string) => {
        const m = byStrategy.get(s)
        return m ? `${ms(m.ttftP90)} (${(aware.ttftP90 / m.ttftP90).toFixed(2)}×)` : '–'
      }
      const [bestName, best] = [...byStrategy].reduce((a, b) => (b[1].ttftP90 < a[1].ttftP90 ? b : a))
      const ratio = aware.ttftP90 / best.ttftP90
      const word = bestName === 'cache-aware' ? 'wins' : ratio <= 1.1 ? 'within 10 % of the best' : `loses (${ratio.toFixed(2)}× the best)`
      lines.push(`| ${workload} | ${rate} | ${ms(aware.ttftP90)} | ${cell('least-request')} | ${cell('random')} | ${cell('prefix-cache')} | ${bestName} ${ms(best.ttftP90)} | ${word} |`)
    }
  }
  return lines
}
