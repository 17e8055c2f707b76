/**
 * npm run bench:routing [-- --quick] — which routing strategy wins, on a simulated cluster.
 *
 * Simulated vLLM pods run in a child process (src/sim, time compressed by TIME_SCALE); the real
 * gateway runs in this process, fresh for every run, in front of them. Each workload replays
 * Poisson arrivals of streaming chat requests at several rates, for every strategy, with the same
 * seed per repetition, from a cold cache. Reports client-side TTFT, TPOT, end-to-end latency,
 * throughput and success, and the pods' prefix-cache hit rate; writes docs/benchmarks-routing.md
 * and one SVG chart per workload into docs/img/.
 */
import { setMaxListeners } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { parseConfig } from '../src/config/load.js'
import { createGateway, type Gateway } from '../src/gateway.js'
import { silentLogger } from '../src/observability/logger.js'
import { startChild } from './lib.js'
import { CLUSTER, rng, workloads } from './routing/workloads.js'
import { lineChart } from './routing/svg.js'

const quick = process.argv.includes('--quick')
const only = process.argv.find((a) => a.startsWith('--workloads='))?.split('=')[1]?.split(',')
/** Simulated time runs this much faster than the wall clock... inverted: wall = simulated × TIME_SCALE. */
const TIME_SCALE = 0.1
const SIM_SECONDS = quick ? 10 : 15
const REPS = quick ? 1 : 3
const DRAIN_SIM_SECONDS = 30
const STRATEGIES = ['random', 'least-request', 'throughput', 'least-kv-cache', 'least-gpu-cache', 'least-latency', 'least-busy-time', 'power-of-two', 'session-affinity', 'vtc-basic', 'prefix-cache', 'cache-aware']

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]
}
const median = (xs: number[]) => pct(xs, 0.5)

interface RunResult {
  ttftP50: number
  ttftP90: number
  tpotP50: number
  e2eP50: number
  /** Output tokens per simulated second. */
  throughput: number
  success: number
  hitRate: number
}

async function resetPods(addresses: string[]): Promise<void> {
  await Promise.all(addresses.map((a) => fetch(`http://${a}/sim/reset`, { method: 'POST' })))
}

async function hitRate(addresses: string[]): Promise<number> {
  let hits = 0
  let queries = 0
  for (const a of addresses) {
    const text = await (await fetch(`http://${a}/metrics`)).text()
    hits += Number(/vllm:prefix_cache_hits_total\{[^}]*\} ([\d.e+]+)/.exec(text)?.[1] ?? 0)
    queries += Number(/vllm:prefix_cache_queries_total\{[^}]*\} ([\d.e+]+)/.exec(text)?.[1] ?? 0)
  }
  return queries > 0 ? hits / queries : 0
}

async function startGatewayFor(addresses: string[], gpus: string[], strategy: string): Promise<{ gateway: Gateway; url: string }> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, logLevel: 'silent' },
    discovery: { static: { models: [{ name: 'm', endpoints: addresses.map((address, i) => ({ address, name: `pod-${i}-${gpus[i]}`, labels: { gpu: gpus[i] } })) }] } },
    routing: { defaultStrategy: strategy },
    telemetry: { scrapeIntervalMs: 100, staleAfterMs: 1000 }
  })
  const gateway = await createGateway(config, { logger: silentLogger })
  return { gateway, url: await gateway.listen() }
}

/** One run: Poisson arrivals at `rate` simulated req/s for SIM_SECONDS against a fresh gateway. */
async function runOnce(name: string, addresses: string[], strategy: string, rate: number, seed: number): Promise<RunResult> {
  // a fresh workload per run: multi-turn histories must not carry over from another strategy's run
  const w = workloads().find((x) => x.name === name)!
  await resetPods(addresses)
  const { gateway, url } = await startGatewayFor(addresses, w.gpus, strategy)
  const pool = new Pool(url, { connections: 256 })
  const r = rng(seed)
  const ttft: number[] = []
  const tpot: number[] = []
  const e2e: number[] = []
  let tokens = 0
  let ok = 0
  let sent = 0
  const start = performance.now()
  const deadline = start + (SIM_SECONDS + DRAIN_SIM_SECONDS) * 1000 * TIME_SCALE
  const pending: Promise<void>[] = []
  const controller = new AbortController()
  setMaxListeners(0, controller.signal) // one signal cuts every request of the run at its deadline
  for (let t = 0; ; ) {
    t += (-Math.log(1 - r()) / rate) * 1000 // next arrival, simulated ms
    if (t > SIM_SECONDS * 1000) break
    const wait = start + t * TIME_SCALE - performance.now()
    if (wait > 0) await sleep(wait)
    const { body, conversation } = w.next(r)
    sent++
    const sentAt = performance.now()
    pending.push(
      (async () => {
        let first: number | undefined
        let count = 0
        let answer = ''
        try {
          const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: controller.signal })
          if (res.statusCode !== 200) {
            await res.body.dump()
            return
          }
          let buf = ''
          for await (const chunk of res.body) {
            first ??= performance.now()
            buf += (chunk as Buffer).toString()
            let i: number
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const ev = buf.slice(0, i)
              buf = buf.slice(i + 2)
              if (!ev.startsWith('data: {')) continue
              const content = (JSON.parse(ev.slice(6)) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content
              if (content) {
                count++
                answer += content
              }
            }
          }
          const end = performance.now()
          first ??= end
          ok++
          tokens += count
          ttft.push((first - sentAt) / TIME_SCALE)
          if (count > 1) tpot.push((end - first) / (count - 1) / TIME_SCALE)
          e2e.push((end - sentAt) / TIME_SCALE)
        } catch {
          // cut at the deadline: count its wait so far as a lower bound of its TTFT
          if (first === undefined) ttft.push((performance.now() - sentAt) / TIME_SCALE)
        } finally {
          if (conversation !== undefined) w.answered?.(conversation, answer || 'ok')
        }
      })()
    )
  }
  const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - performance.now()))
  await Promise.all(pending)
  clearTimeout(timer)
  const elapsedSim = (performance.now() - start) / TIME_SCALE / 1000
  const hits = await hitRate(addresses)
  await pool.close()
  await gateway.close()
  return {
    ttftP50: pct(ttft, 0.5),
    ttftP90: pct(ttft, 0.9),
    tpotP50: pct(tpot, 0.5),
    e2eP50: pct(e2e, 0.5),
    throughput: tokens / elapsedSim,
    success: sent > 0 ? ok / sent : 0,
    hitRate: hits
  }
}

async function main(): Promise<void> {
  const all = workloads().filter((w) => !only || only.includes(w.name))
  const chosen = quick && !only ? all.filter((w) => ['b2b-saas', 'low-sharing'].includes(w.name)) : all
  const rows: string[] = []
  const charts: string[] = []
  const began = Date.now()
  mkdirSync(here('../../docs/img'), { recursive: true })
  for (const w of chosen) {
    const cluster = await startChild(process.execPath, [here('./routing/cluster.js'), JSON.stringify({ gpus: w.gpus, kvTokens: CLUSTER.kvTokens, maxBatch: CLUSTER.maxBatch, timeScale: TIME_SCALE })], /CLUSTER (\[.*\])/)
    const addresses = JSON.parse(cluster.url) as string[]
    const rates = quick ? w.rates.slice(-1) : w.rates
    const series = new Map<string, [number, number][]>()
    try {
      for (const rate of rates) {
        const results = new Map<string, RunResult[]>()
        for (let rep = 0; rep < REPS; rep++) {
          for (const s of STRATEGIES) {
            const res = await runOnce(w.name, addresses, s, rate, 1000 * rep + 7)
            results.set(s, [...(results.get(s) ?? []), res])
            process.stderr.write(`${w.name} rate=${rate} rep=${rep + 1} ${s}: ttft p90 ${res.ttftP90.toFixed(0)} ms, hit ${(res.hitRate * 100).toFixed(0)}%, ok ${(res.success * 100).toFixed(0)}%\n`)
          }
        }
        for (const s of STRATEGIES) {
          const rs = results.get(s)!
          const m = (f: (x: RunResult) => number) => median(rs.map(f))
          rows.push(
            `| ${w.name} | ${rate} | ${s} | ${m((x) => x.ttftP50).toFixed(0)} | ${m((x) => x.ttftP90).toFixed(0)} | ${m((x) => x.tpotP50).toFixed(1)} | ${m((x) => x.e2eP50).toFixed(0)} | ${m((x) => x.throughput).toFixed(0)} | ${(m((x) => x.success) * 100).toFixed(0)}% | ${(m((x) => x.hitRate) * 100).toFixed(0)}% |`
          )
          series.set(s, [...(series.get(s) ?? []), [rate, m((x) => x.ttftP90)]])
        }
      }
    } finally {
      cluster.stop()
    }
    const file = `routing-${w.name}.svg`
    writeFileSync(here(`../../docs/img/${file}`), lineChart(`${w.name}: TTFT p90 vs request rate`, [...series].map(([name, points]) => ({ name, points })), 'request rate (simulated req/s)', 'TTFT p90 (simulated ms)'))
    charts.push(`### ${w.name}\n\n${w.description}; cluster: ${w.gpus.join(', ')}.\n\n![${w.name}](img/${file})\n`)
  }
  const minutes = ((Date.now() - began) / 60_000).toFixed(1)
  const md = [
    '# Routing benchmark results',
    '',
    `Generated by \`npm run bench:routing${quick ? ' -- --quick' : ''}\` in ${minutes} min (node ${process.version}). ${CLUSTER.pods} simulated pods,`,
    `${CLUSTER.kvTokens} KV tokens and ${CLUSTER.maxBatch} batch slots each; simulated time runs ${1 / TIME_SCALE}× faster than the wall clock;`,
    `${SIM_SECONDS} simulated seconds of Poisson arrivals per run, ${REPS} repetition(s), medians. Latencies in simulated ms; throughput in output tokens per simulated second.`,
    '',
    '| workload | rate | strategy | TTFT p50 | TTFT p90 | TPOT p50 | e2e p50 | tokens/s | success | prefix hit rate |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    '## Charts',
    '',
    ...charts
  ].join('\n')
  writeFileSync(here('../../docs/benchmarks-routing.md'), md + '\n')
  console.log(md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
