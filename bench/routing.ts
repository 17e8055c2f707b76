/**
 * npm run bench:routing [-- --virtual] [--quick] [--workloads=a,b] [--strategies=x,y] [--reps=N] [--rates=r,s] —
 * which routing strategy wins, on a simulated cluster. Only a full run writes docs/; the others print their table.
 *
 * Default (HTTP) mode: simulated vLLM pods run in a child process (src/sim, time compressed by
 * TIME_SCALE); the real gateway runs in this process, fresh for every run, in front of them, and
 * a worker thread sends the requests over HTTP with streaming.
 * --virtual: the gateway's routing and the simulated engines run in one process on a virtual
 * clock (src/sim/virtual-cluster.ts), no sockets and no wall time — longer runs, more rates and
 * results that repeat exactly, on both cores (one worker thread per core).
 * Each workload replays Poisson arrivals of streaming chat requests at several rates, for every
 * strategy, with the same seed per repetition, from a cold cache. Reports client-side TTFT, TPOT,
 * end-to-end latency, throughput and success, and the pods' prefix-cache hit rate; writes
 * docs/benchmarks-routing[-virtual].md and one SVG chart per workload into docs/img/.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../src/config/load.js'
import { createGateway, type Gateway } from '../src/gateway.js'
import { silentLogger } from '../src/observability/logger.js'
import { parseVllmMetrics, prefixHitRate } from '../src/telemetry/pod-metrics.js'
import { median, pct, startChild } from './lib.js'
import { WorkerPool } from './worker-pool.js'
import { CLUSTER, workloads, type Workload } from './routing/workloads.js'
import type { ReplayOptions, ReplayResult } from './routing/replay.js'
import type { VirtualReplayOptions } from './routing/virtual-replay.js'
import { lineChart } from './routing/svg.js'
import { checkTargets, headline, type Results } from './routing/targets.js'

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const quick = process.argv.includes('--quick')
const virtual = process.argv.includes('--virtual')
/** Only a full run (no --quick, no filters) writes the results into docs/. */
const writesDocs = !quick && !option('workloads') && !option('strategies') && !option('reps') && !option('rates')
const only = option('workloads')?.split(',')
/**
 * wall time = simulated time × TIME_SCALE. Faster than 0.1 saturates this 2-core machine (gateway,
 * load generator and pods share it) and inflates every latency; BENCH_TIME_SCALE overrides it.
 */
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 0.1)
/** A virtual run costs CPU time only, so it can cover more simulated time. */
const SIM_SECONDS = virtual ? 30 : 9
/** The gateway's metrics scrape interval and staleness limit, simulated ms (the HTTP mode's 100 and 1000 wall ms). */
const SCRAPE_INTERVAL_MS = 1000
const STALE_AFTER_MS = 10_000
/** The first simulated seconds of a run warm the caches and are not measured (steady state, as in the published benchmarks). */
const WARMUP_SIM_SECONDS = 3
/** Workloads without shared prefixes have no cache to warm: only the first second (an empty cluster) is left out. */
const SHORT_WARMUP_SIM_SECONDS = 1
const REPS = Number(option('reps') ?? (quick ? 1 : virtual ? 5 : 3))
const DRAIN_SIM_SECONDS = 5
const ALL_STRATEGIES = ['random', 'least-request', 'throughput', 'least-kv-cache', 'least-gpu-cache', 'least-latency', 'least-busy-time', 'power-of-two', 'session-affinity', 'vtc-basic', 'prefix-cache', 'cache-aware']

const STRATEGIES = option('strategies')?.split(',') ?? ALL_STRATEGIES
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

interface RunResult {
  /** Wall time of the run. */
  seconds: number
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
  return prefixHitRate(await Promise.all(addresses.map(async (a) => parseVllmMetrics(await (await fetch(`http://${a}/metrics`)).text(), 0))))
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

const summarise = (r: ReplayResult, hitRate: number, seconds: number): RunResult => ({
  seconds,
  ttftP50: pct(r.ttft, 0.5),
  ttftP90: pct(r.ttft, 0.9),
  tpotP50: pct(r.tpot, 0.5),
  e2eP50: pct(r.e2e, 0.5),
  throughput: r.tokens / r.elapsedSimSeconds,
  success: r.sent > 0 ? r.ok / r.sent : 0,
  hitRate
})

/** Runs one workload's runs: Poisson arrivals at `rate` simulated req/s for SIM_SECONDS. */
interface Runner {
  run(strategy: string, rate: number, seed: number): Promise<RunResult>
  close(): Promise<void>
}

const warmupOf = (w: Workload) => (w.sharesPrefixes ? WARMUP_SIM_SECONDS : SHORT_WARMUP_SIM_SECONDS)

/** HTTP mode: pods in a child process, a fresh gateway per run, one run at a time. */
async function httpRunner(w: Workload, replayer: WorkerPool<ReplayOptions, ReplayResult>): Promise<Runner> {
  const cluster = await startChild(process.execPath, [here('./routing/cluster.js'), JSON.stringify({ gpus: w.gpus, kvTokens: CLUSTER.kvTokens, maxBatch: w.maxBatch ?? CLUSTER.maxBatch, timeScale: TIME_SCALE, loras: w.adapters, maxLoras: w.maxLoras })], /CLUSTER (\[.*\])/)
  const addresses = JSON.parse(cluster.url) as string[]
  let queue: Promise<unknown> = Promise.resolve()
  const runOnce = async (strategy: string, rate: number, seed: number): Promise<RunResult> => {
    await resetPods(addresses)
    const { gateway, url } = await startGatewayFor(addresses, w, strategy)
    const { result, seconds } = await replayer.run({ workload: w.name, url, rate, seed, timeScale: TIME_SCALE, simSeconds: SIM_SECONDS, warmupSimSeconds: warmupOf(w), drainSimSeconds: DRAIN_SIM_SECONDS })
    const hits = await hitRate(addresses)
    await gateway.close()
    return summarise(result, hits, seconds)
  }
  const runner: Runner = {
    run: (strategy, rate, seed) => {
      const result = queue.then(() => runOnce(strategy, rate, seed))
      queue = result.catch(() => undefined)
      return result
    },
    close: async () => cluster.stop()
  }
  // one unrecorded run first: the pods' and the gateway's code is compiled (JIT) before
  // anything is measured, so the strategies that run first are not handicapped
  await runner.run('least-request', w.rates[0], 1)
  return runner
}

/** Virtual mode: in-process runs on a virtual clock, as many at a time as there are workers. */
function virtualRunner(w: Workload, pool: WorkerPool<VirtualReplayOptions, ReplayResult & { hitRate: number }>): Runner {
  return {
    run: async (strategy, rate, seed) => {
      const { result, seconds } = await pool.run({ workload: w.name, strategy, rate, seed, simSeconds: SIM_SECONDS, warmupSimSeconds: warmupOf(w), drainSimSeconds: DRAIN_SIM_SECONDS, scrapeIntervalMs: SCRAPE_INTERVAL_MS, staleAfterMs: STALE_AFTER_MS })
      return summarise(result, result.hitRate, seconds)
    },
    close: async () => undefined
  }
}

async function main(): Promise<void> {
  const all = workloads().filter((w) => !only || only.includes(w.name))
  const chosen = quick && !only ? all.filter((w) => ['b2b-saas', 'low-sharing'].includes(w.name)) : all
  const rows: string[] = []
  const charts: string[] = []
  const medians: Results = new Map()
  const began = Date.now()
  const replayer = virtual ? undefined : new WorkerPool<ReplayOptions, ReplayResult>(here('./routing/replay-worker.js'), 1)
  const simulator = virtual ? new WorkerPool<VirtualReplayOptions, ReplayResult & { hitRate: number }>(here('./routing/virtual-worker.js'), availableParallelism()) : undefined
  if (writesDocs) mkdirSync(here('../../docs/img'), { recursive: true })
  for (const w of chosen) {
    const runner = simulator ? virtualRunner(w, simulator) : await httpRunner(w, replayer!)
    const workloadRates = virtual ? w.virtualRates : w.rates
    const rates = option('rates')?.split(',').map(Number) ?? (quick ? workloadRates.slice(-1) : workloadRates)
    const series = new Map<string, [number, number][]>()
    try {
      const jobs = rates.flatMap((rate) => Array.from({ length: REPS }, (_, rep) => STRATEGIES.map((s) => ({ rate, rep, s }))).flat())
      const done = await Promise.all(
        jobs.map(async ({ rate, rep, s }) => {
          const res = await runner.run(s, rate, 1000 * rep + 7)
          process.stderr.write(`${w.name} rate=${rate} rep=${rep + 1} ${s}: ttft p90 ${res.ttftP90.toFixed(0)} ms, hit ${(res.hitRate * 100).toFixed(0)}%, ok ${(res.success * 100).toFixed(0)}%, ${res.seconds.toFixed(1)} s\n`)
          return { rate, s, res }
        })
      )
      for (const rate of rates) {
        for (const s of STRATEGIES) {
          const rs = done.filter((d) => d.rate === rate && d.s === s).map((d) => d.res)
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
      await runner.close()
    }
    const file = `routing-${virtual ? 'virtual-' : ''}${w.name}.svg`
    if (writesDocs) writeFileSync(here(`../../docs/img/${file}`), lineChart(`${w.name}, ${virtual ? 'virtual clock (routing + engines in one process)' : 'over HTTP (gateway, pods, real sockets)'}: TTFT p90`, [...series].map(([name, points]) => ({ name, points })), 'request rate (simulated req/s)', 'TTFT p90 (simulated ms)'))
    charts.push(`### ${w.name}\n\n${w.description}; cluster: ${w.gpus.join(', ')}.\n\n![${w.name}](img/${file})\n`)
  }
  await replayer?.close()
  await simulator?.close()
  const minutes = ((Date.now() - began) / 60_000).toFixed(1)
  const flags = process.argv.slice(2)
  const md = [
    '# Routing benchmark results',
    '',
    `Generated by \`npm run bench:routing${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}\` in ${minutes} min (node ${process.version}). ${CLUSTER.pods} simulated pods,`,
    `${CLUSTER.kvTokens} KV tokens and ${CLUSTER.maxBatch} batch slots each; ${virtual ? `the gateway's routing and the pods run in one process on a virtual clock (metrics scraped every ${SCRAPE_INTERVAL_MS} simulated ms)` : `simulated time runs ${1 / TIME_SCALE}× faster than the wall clock`};`,
    `${SIM_SECONDS} simulated seconds of Poisson arrivals per run, of which the first ${WARMUP_SIM_SECONDS} (${SHORT_WARMUP_SIM_SECONDS} for workloads without shared prefixes) warm the caches and are not measured (prefix hit rate: whole run), ${REPS} repetition(s), medians. Latencies in simulated ms; throughput in output tokens per simulated second.`,
    '',
    '## Where cache-aware wins and loses',
    '',
    'TTFT p90 (simulated ms) of cache-aware beside other strategies at each workload\'s lowest and highest rate, same run; in brackets cache-aware\'s p90 as a multiple of the other\'s (below 1: cache-aware is faster).',
    '',
    ...headline(medians),
    '',
    '## Goals',
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
  if (writesDocs) writeFileSync(here(`../../docs/benchmarks-routing${virtual ? '-virtual' : ''}.md`), md + '\n')
  console.log(md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
