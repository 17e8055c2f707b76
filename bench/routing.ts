/**
 * npm run bench:routing [-- --quick] [--workloads=a,b] [--strategies=x,y] [--reps=N] [--rates=r,s] — which routing
 * strategy wins, on a simulated cluster. Only a full run writes docs/; the others print their table.
 *
 * Simulated vLLM pods run in a child process (src/sim, time compressed by TIME_SCALE); the real
 * gateway runs in this process, fresh for every run, in front of them. Each workload replays
 * Poisson arrivals of streaming chat requests at several rates, for every strategy, with the same
 * seed per repetition, from a cold cache. Reports client-side TTFT, TPOT, end-to-end latency,
 * throughput and success, and the pods' prefix-cache hit rate; writes docs/benchmarks-routing.md
 * and one SVG chart per workload into docs/img/.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { parseConfig } from '../src/config/load.js'
import { createGateway, type Gateway } from '../src/gateway.js'
import { silentLogger } from '../src/observability/logger.js'
import { startChild } from './lib.js'
import { CLUSTER, workloads, type Workload } from './routing/workloads.js'
import type { ReplayOptions, ReplayResult } from './routing/replay.js'
import { lineChart } from './routing/svg.js'
import { checkTargets, type Results } from './routing/targets.js'

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const quick = process.argv.includes('--quick')
/** Only a full run (no --quick, no filters) writes the results into docs/. */
const writesDocs = !quick && !option('workloads') && !option('strategies') && !option('reps') && !option('rates')
const only = option('workloads')?.split(',')
/**
 * wall time = simulated time × TIME_SCALE. Faster than 0.1 saturates this 2-core machine (gateway,
 * load generator and pods share it) and inflates every latency; BENCH_TIME_SCALE overrides it.
 */
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 0.1)
const SIM_SECONDS = 9
/** The first simulated seconds of a run warm the caches and are not measured (steady state, as in the published benchmarks). */
const WARMUP_SIM_SECONDS = 3
/** Workloads without shared prefixes have no cache to warm: only the first second (an empty cluster) is left out. */
const SHORT_WARMUP_SIM_SECONDS = 1
const REPS = Number(option('reps') ?? (quick ? 1 : 3))
const DRAIN_SIM_SECONDS = 5
const ALL_STRATEGIES = ['random', 'least-request', 'throughput', 'least-kv-cache', 'least-gpu-cache', 'least-latency', 'least-busy-time', 'power-of-two', 'session-affinity', 'vtc-basic', 'prefix-cache', 'cache-aware']

const STRATEGIES = option('strategies')?.split(',') ?? ALL_STRATEGIES
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
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

async function startGatewayFor(addresses: string[], w: Workload, strategy: string): Promise<{ gateway: Gateway; url: string }> {
  const config = parseConfig({
    server: { host: '127.0.0.1', port: 0, logLevel: 'silent' },
    discovery: { static: { models: [{ name: 'm', adapters: w.adapters, endpoints: addresses.map((address, i) => ({ address, name: `pod-${i}-${w.gpus[i]}`, labels: { gpu: w.gpus[i] } })) }] } },
    routing: { defaultStrategy: strategy },
    telemetry: { scrapeIntervalMs: 100, staleAfterMs: 1000 }
  })
  const gateway = await createGateway(config, { logger: silentLogger })
  return { gateway, url: await gateway.listen() }
}

/** Replays runs in a worker thread, one at a time. */
class Replayer {
  private readonly worker = new Worker(here('./routing/replay-worker.js'))

  run(o: ReplayOptions): Promise<ReplayResult> {
    return new Promise((resolve, reject) => {
      this.worker.once('message', (m: { result?: ReplayResult; error?: string }) => (m.result ? resolve(m.result) : reject(new Error(m.error))))
      this.worker.postMessage(o)
    })
  }

  close(): Promise<number> {
    return this.worker.terminate()
  }
}

/** One run: Poisson arrivals at `rate` simulated req/s for SIM_SECONDS against a fresh gateway. */
async function runOnce(replayer: Replayer, name: string, addresses: string[], strategy: string, rate: number, seed: number): Promise<RunResult> {
  const w = workloads().find((x) => x.name === name)!
  await resetPods(addresses)
  const { gateway, url } = await startGatewayFor(addresses, w, strategy)
  const r = await replayer.run({ workload: name, url, rate, seed, timeScale: TIME_SCALE, simSeconds: SIM_SECONDS, warmupSimSeconds: w.sharesPrefixes ? WARMUP_SIM_SECONDS : SHORT_WARMUP_SIM_SECONDS, drainSimSeconds: DRAIN_SIM_SECONDS })
  const hits = await hitRate(addresses)
  await gateway.close()
  return {
    ttftP50: pct(r.ttft, 0.5),
    ttftP90: pct(r.ttft, 0.9),
    tpotP50: pct(r.tpot, 0.5),
    e2eP50: pct(r.e2e, 0.5),
    throughput: r.tokens / r.elapsedSimSeconds,
    success: r.sent > 0 ? r.ok / r.sent : 0,
    hitRate: hits
  }
}

async function main(): Promise<void> {
  const all = workloads().filter((w) => !only || only.includes(w.name))
  const chosen = quick && !only ? all.filter((w) => ['b2b-saas', 'low-sharing'].includes(w.name)) : all
  const rows: string[] = []
  const charts: string[] = []
  const medians: Results = new Map()
  const began = Date.now()
  const replayer = new Replayer()
  if (writesDocs) mkdirSync(here('../../docs/img'), { recursive: true })
  for (const w of chosen) {
    const cluster = await startChild(process.execPath, [here('./routing/cluster.js'), JSON.stringify({ gpus: w.gpus, kvTokens: CLUSTER.kvTokens, maxBatch: CLUSTER.maxBatch, timeScale: TIME_SCALE, loras: w.adapters, maxLoras: w.maxLoras })], /CLUSTER (\[.*\])/)
    const addresses = JSON.parse(cluster.url) as string[]
    const rates = option('rates')?.split(',').map(Number) ?? (quick ? w.rates.slice(-1) : w.rates)
    const series = new Map<string, [number, number][]>()
    try {
      // one unrecorded run first: the pods' and the gateway's code is compiled (JIT) before
      // anything is measured, so the strategies that run first are not handicapped
      await runOnce(replayer, w.name, addresses, 'least-request', rates[0], 1)
      for (const rate of rates) {
        const results = new Map<string, RunResult[]>()
        for (let rep = 0; rep < REPS; rep++) {
          for (const s of STRATEGIES) {
            const t0 = Date.now()
            const res = await runOnce(replayer, w.name, addresses, s, rate, 1000 * rep + 7)
            results.set(s, [...(results.get(s) ?? []), res])
            process.stderr.write(`${w.name} rate=${rate} rep=${rep + 1} ${s}: ttft p90 ${res.ttftP90.toFixed(0)} ms, hit ${(res.hitRate * 100).toFixed(0)}%, ok ${(res.success * 100).toFixed(0)}%, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
          }
        }
        for (const s of STRATEGIES) {
          const rs = results.get(s)!
          const m = (f: (x: RunResult) => number) => median(rs.map(f))
          rows.push(
            `| ${w.name} | ${rate} | ${s} | ${m((x) => x.ttftP50).toFixed(0)} | ${m((x) => x.ttftP90).toFixed(0)} | ${m((x) => x.tpotP50).toFixed(1)} | ${m((x) => x.e2eP50).toFixed(0)} | ${m((x) => x.throughput).toFixed(0)} | ${(m((x) => x.success) * 100).toFixed(0)}% | ${(m((x) => x.hitRate) * 100).toFixed(0)}% |`
          )
          series.set(s, [...(series.get(s) ?? []), [rate, m((x) => x.ttftP90)]])
          const byRate = medians.get(w.name) ?? medians.set(w.name, new Map()).get(w.name)!
          const byStrategy = byRate.get(rate) ?? byRate.set(rate, new Map()).get(rate)!
          byStrategy.set(s, { ttftP90: m((x) => x.ttftP90), throughput: m((x) => x.throughput) })
        }
      }
    } finally {
      cluster.stop()
    }
    const file = `routing-${w.name}.svg`
    if (writesDocs) writeFileSync(here(`../../docs/img/${file}`), lineChart(`${w.name}: TTFT p90 vs request rate`, [...series].map(([name, points]) => ({ name, points })), 'request rate (simulated req/s)', 'TTFT p90 (simulated ms)'))
    charts.push(`### ${w.name}\n\n${w.description}; cluster: ${w.gpus.join(', ')}.\n\n![${w.name}](img/${file})\n`)
  }
  await replayer.close()
  const minutes = ((Date.now() - began) / 60_000).toFixed(1)
  const md = [
    '# Routing benchmark results',
    '',
    `Generated by \`npm run bench:routing${quick ? ' -- --quick' : ''}\` in ${minutes} min (node ${process.version}). ${CLUSTER.pods} simulated pods,`,
    `${CLUSTER.kvTokens} KV tokens and ${CLUSTER.maxBatch} batch slots each; simulated time runs ${1 / TIME_SCALE}× faster than the wall clock;`,
    `${SIM_SECONDS} simulated seconds of Poisson arrivals per run, of which the first ${WARMUP_SIM_SECONDS} (${SHORT_WARMUP_SIM_SECONDS} for workloads without shared prefixes) warm the caches and are not measured (prefix hit rate: whole run), ${REPS} repetition(s), medians. Latencies in simulated ms; throughput in output tokens per simulated second.`,
    '',
    '## Targets',
    '',
    ...checkTargets(medians),
    '',
    '## All results',
    '',
    '| workload | rate | strategy | TTFT p50 | TTFT p90 | TPOT p50 | e2e p50 | tokens/s | success | prefix hit rate |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    '## Charts',
    '',
    ...charts
  ].join('\n')
  if (writesDocs) writeFileSync(here('../../docs/benchmarks-routing.md'), md + '\n')
  console.log(md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
