/**
 * npm run bench:proxy — what the gateway costs in front of a pod.
 *
 * One fixed-answer backend (a child process). The same load runs against it directly, through
 * brixgate (the built CLI), through a bare node:http + undici forwarder, through brixgate's own
 * forwarding path with no features, through a bare @fastify/reply-from forwarder, and through nginx
 * as a reverse proxy when nginx is installed (Debian's nginx-light). Prints, for each, req/s, the
 * proxy's CPU per request (at its maximum, and with every Node proxy offered the same load at once)
 * and latencies, and ratios against the direct run and nginx measured in this same run; the
 * throughput and fixed-rate runs are interleaved across targets.
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { cpuSeconds, fmt, load, loadGenerator, median, startChild, type LoadResult, type Started } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const quick = process.argv.includes('--quick')
/** `--baseline=PATH`: another build's dist/src/cli.js, run with the same default config beside this one (an A/B in one run). */
const baselineCli = process.argv.find((a) => a.startsWith('--baseline='))?.slice('--baseline='.length)
const SECONDS = quick ? 2 : 5
/** Rounds in which every target runs once; medians are reported (this machine drifts by ±10 % within minutes). */
const ROUNDS = quick ? 3 : 5
const FIXED_RATE = 1000
/** Seconds of each fixed-rate latency round. */
const FIXED_SECONDS = quick ? 2 : 3
/** Requests/s offered to each Node proxy at once for the equal-load CPU comparison. */
const EQUAL_RATE = 400
const path = '/v1/chat/completions'
const smallBody = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Hello there, how are you?' }], max_tokens: 8 })
const bigBody = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'x'.repeat(200 * 1024) }], max_tokens: 8 })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function hasNginx(): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' })
      return p
    } catch {
      // not here
    }
  }
  return undefined
}

async function startNginx(bin: string, backendPort: number): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'brixgate-nginx-'))
  const port = 20000 + Math.floor(Math.random() * 20000)
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream backend { server 127.0.0.1:${backendPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 10m; client_body_buffer_size 1m;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`
  )
  // its own process group: stopping it kills the worker too (killed alone, the master leaves its
  // worker running, holding its port, after every run)
  const child = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore', detached: true })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url + path, { method: 'POST', body: smallBody })
      return {
        url,
        child,
        stop: () => {
          try {
            process.kill(-child.pid!, 'SIGKILL')
          } catch {
            child.kill('SIGKILL')
          }
          rmSync(dir, { recursive: true, force: true })
        }
      }
    } catch {
      await sleep(50)
    }
  }
  throw new Error('nginx did not start')
}

/** Calls `send` `rate` times a second for `seconds`, on schedule whatever the answers take; resolves when all have settled. */
async function paced(rate: number, seconds: number, send: () => Promise<unknown>): Promise<void> {
  const pending: Promise<unknown>[] = []
  const start = performance.now()
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + (i * 1000) / rate - performance.now()
    if (wait > 1) await sleep(wait)
    pending.push(send())
  }
  await Promise.all(pending)
}

/** Sends requests at a fixed rate from one keep-alive pool; sub-millisecond latencies. */
async function fixedRate(url: string, body: string, rate: number, seconds: number): Promise<{ p50: number; p99: number; errors: number }> {
  const pool = new Pool(url, { connections: 64 })
  const latencies: number[] = []
  let errors = 0
  await paced(rate, seconds, () => {
    const t0 = performance.now()
    return pool
      .request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body })
      .then(async (res) => {
        await res.body.arrayBuffer()
        if (res.statusCode !== 200) errors++
        latencies.push(performance.now() - t0)
      })
      .catch(() => {
        errors++
      })
  })
  await pool.close()
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
  return { p50: q(0.5), p99: q(0.99), errors }
}

/**
 * CPU µs per request of each target when all of them are offered the same load at the same time
 * (`rate` req/s each, from one client): drift and steal time fall on all alike, and no target is
 * flattered by the batching a saturated event loop gets. Medians of `rounds` windows.
 */
async function cpuAtEqualLoad(targets: [string, Started][], rate: number, seconds: number, rounds: number): Promise<Map<string, number>> {
  const pools = targets.map(([, t]) => new Pool(t.url, { connections: 32 }))
  const perRound: number[][] = targets.map(() => [])
  for (let round = 0; round <= rounds; round++) {
    const before = targets.map(([, t]) => cpuSeconds(t.child.pid))
    const done = targets.map(() => 0)
    const sendToAll = () =>
      Promise.all(
        pools.map((pool, k) =>
          pool
            .request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body: smallBody })
            .then((res) => res.body.dump())
            .then(() => void done[k]++)
            // a failed request is not counted: CPU per answered request
            .catch(() => undefined)
        )
      )
    await paced(rate, seconds, sendToAll)
    // round 0 warms the pools' connections and is not counted
    if (round > 0) targets.forEach(([, t], k) => perRound[k].push((((cpuSeconds(t.child.pid) ?? NaN) - (before[k] ?? NaN)) * 1e6) / done[k]))
  }
  await Promise.all(pools.map((p) => p.close()))
  return new Map(targets.map(([name], k) => [name, median(perRound[k])]))
}

/**
 * The targets in round `round`'s order: each round starts one further along, so that no target
 * always runs right after the same one (in a fixed order brixgate always followed the direct run,
 * which leaves the backend and the machine just run flat out).
 */
function rotated<T>(targets: readonly T[], round: number): T[] {
  const k = round % targets.length
  return [...targets.slice(k), ...targets.slice(0, k)]
}

/**
 * Load each target gets before anything is measured. V8 compiles a process's hot code as it runs:
 * on Node 20 brixgate's request path keeps being optimized (and deoptimized) for its first
 * ~150,000 requests (`bench:instructions` sees it compiling until then; `--trace-deopt` shows
 * deoptimizations until ~165,000), where a bare forwarder, with far less code, is settled at once;
 * and a gateway runs for days. So the warm-up counts requests, not seconds: in a slow hour 15 s
 * were 45,000 requests, far from settled. At least WARM_SECONDS, then until WARM_REQUESTS have
 * been served, at most WARM_MAX_SECONDS.
 */
const WARM_SECONDS = quick ? 5 : 15
const WARM_REQUESTS = quick ? 40_000 : 150_000
const WARM_MAX_SECONDS = quick ? 20 : 90

async function warm(url: string): Promise<void> {
  let served = 0
  for (let seconds = 0; seconds < WARM_SECONDS || (served < WARM_REQUESTS && seconds < WARM_MAX_SECONDS); seconds += 5) {
    served += (await load({ url: url + path, body: smallBody, seconds: 5, connections: 64 })).requests
  }
}

async function main(): Promise<void> {
  const backend = await startChild(process.execPath, [here('./backend.js')])
  const backendPort = Number(new URL(backend.url).port)
  const cfgDir = mkdtempSync(join(tmpdir(), 'brixgate-bench-'))
  const cfg = join(cfgDir, 'config.json')
  // brixgate as a new user runs it: cache-aware (the demo's and the docs' recommended strategy),
  // telemetry and metrics on, one access-log line per request at info; and with random, logs off
  const discovery = { static: { models: [{ name: 'bench', endpoints: [`127.0.0.1:${backendPort}`] }] } }
  writeFileSync(cfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, routing: { defaultStrategy: 'cache-aware' }, discovery }))
  const leanCfg = join(cfgDir, 'lean.json')
  writeFileSync(leanCfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0, logLevel: 'warn' }, routing: { defaultStrategy: 'random' }, discovery }))
  const targets: [string, Started][] = [['direct (no proxy)', backend]]
  targets.push(['brixgate', await startChild(process.execPath, [here('../src/cli.js'), '--config', cfg])])
  if (baselineCli) targets.push(['brixgate, baseline build', await startChild(process.execPath, [baselineCli, '--config', cfg])])
  targets.push(['brixgate (random, no access log)', await startChild(process.execPath, [here('../src/cli.js'), '--config', leanCfg])])
  targets.push(['bare node http + undici', await startChild(process.execPath, [here('./undici-forwarder.js'), backend.url])])
  targets.push(["brixgate's forwarding core (no features)", await startChild(process.execPath, [here('./core-forwarder.js'), backend.url])])
  targets.push(['@fastify/reply-from (bare)', await startChild(process.execPath, [here('./reply-from.js'), backend.url])])
  const nginx = hasNginx()
  if (nginx) targets.push(['nginx (1 worker)', await startNginx(nginx, backendPort)])
  else console.log('nginx not installed (apt-get install nginx-light): no reference proxy in this run')

  /** brixgate ÷ the bare forwarder by req/s in each round: how far one run's noise moves the ratio. */
  const roundRatios: number[] = []
  const rows: { name: string; rps: number; p50: number; p99: number; cpuUs: number; equalCpuUs: number; fixed: { p50: number; p99: number }; big: { p50: number; p99: number }; errors: number }[] = []
  try {
    for (const [, t] of targets) await warm(t.url)
    // rounds with every target once per round (a 2-core box shared by load generator, proxy and
    // backend is noisy and drifts: interleaving spreads the drift over all targets), then medians
    const runs = new Map<string, (LoadResult & { cpuUs: number })[]>(targets.map(([name]) => [name, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, t] of rotated(targets, round)) {
        const before = cpuSeconds(t.child.pid)
        const r = await load({ url: t.url + path, body: smallBody, seconds: SECONDS, connections: 64 })
        const after = cpuSeconds(t.child.pid)
        runs.get(name)!.push({ ...r, cpuUs: before === undefined || after === undefined ? NaN : ((after - before) * 1e6) / r.requests })
      }
      console.error(`round ${round + 1} of ${ROUNDS}`)
    }
    const gwRounds = runs.get('brixgate')!
    const bareRounds = runs.get('bare node http + undici')!
    roundRatios.push(...gwRounds.map((r, i) => r.rps / bareRounds[i].rps))
    // fixed-rate latencies, interleaved the same way: medians of the rounds' p50 and p99
    const fixedRuns = new Map<string, { p50: number; p99: number; errors: number }[]>(targets.map(([name]) => [name, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, t] of rotated(targets, round)) {
        await sleep(200)
        fixedRuns.get(name)!.push(await fixedRate(t.url, smallBody, FIXED_RATE, FIXED_SECONDS))
      }
      console.error(`latency round ${round + 1} of ${ROUNDS}`)
    }
    const nodeProxies = targets.filter(([name]) => name !== 'direct (no proxy)' && !name.startsWith('nginx'))
    const equalLoad = await cpuAtEqualLoad(nodeProxies, EQUAL_RATE, FIXED_SECONDS, ROUNDS)
    console.error('measured CPU at equal load')
    for (const [name, t] of targets) {
      const mine = runs.get(name)!
      const max = [...mine].sort((a, b) => a.rps - b.rps)[Math.floor(mine.length / 2)]
      const f = fixedRuns.get(name)!
      const fixed = { p50: median(f.map((r) => r.p50)), p99: median(f.map((r) => r.p99)) }
      const big = await fixedRate(t.url, bigBody, 50, Math.max(2, SECONDS / 2))
      const errors = mine.reduce((n, r) => n + r.errors + r.non2xx, 0) + f.reduce((n, r) => n + r.errors, 0) + big.errors
      rows.push({ name, rps: max.rps, p50: max.p50, p99: max.p99, cpuUs: median(mine.map((r) => r.cpuUs)), equalCpuUs: equalLoad.get(name) ?? NaN, fixed, big, errors })
      console.error(`measured ${name}`)
    }
  } finally {
    for (const [, t] of targets) t.stop()
    rmSync(cfgDir, { recursive: true, force: true })
  }

  const direct = rows[0]
  const ref = rows.find((r) => r.name.startsWith('nginx'))
  const gw = rows.find((r) => r.name === 'brixgate')!
  console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; load generator ${loadGenerator}, 64 connections, median of ${ROUNDS} × ${SECONDS} s\n`)
  console.log(`| target | max req/s (64 conns) | CPU µs per request at max (the proxy's; direct: the backend's) | CPU µs per request at ${EQUAL_RATE} req/s each, all at once | p50 / p99 ms at max | p50 / p99 ms at ${FIXED_RATE} req/s | p50 / p99 ms, 200 KB prompt at 50 req/s | errors |`)
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    console.log(`| ${r.name} | ${fmt(r.rps, 0)} | ${fmt(r.cpuUs, 0)} | ${Number.isNaN(r.equalCpuUs) ? '—' : fmt(r.equalCpuUs, 0)} | ${fmt(r.p50, 1)} / ${fmt(r.p99, 1)} | ${fmt(r.fixed.p50)} / ${fmt(r.fixed.p99)} | ${fmt(r.big.p50)} / ${fmt(r.big.p99)} | ${r.errors} |`)
  }
  console.log('\nratios (same run):')
  if (ref) console.log(`- brixgate throughput / nginx throughput: ${fmt(gw.rps / ref.rps)} (target ≥ 0.30)`)
  const rf = rows.find((r) => r.name.startsWith('@fastify'))
  if (rf) console.log(`- brixgate throughput / bare reply-from throughput: ${fmt(gw.rps / rf.rps)}`)
  const bare = rows.find((r) => r.name.startsWith('bare node'))
  const lean = rows.find((r) => r.name.startsWith('brixgate (random'))
  if (bare) console.log(`- brixgate throughput / bare node http + undici forwarder: ${fmt(gw.rps / bare.rps)} (target ≥ 0.90); with random and no access log: ${fmt((lean?.rps ?? NaN) / bare.rps)}`)
  if (roundRatios.length > 0) console.log(`- the same ratio round by round (every target runs once per round): median ${fmt(median(roundRatios))}, from ${fmt(Math.min(...roundRatios))} to ${fmt(Math.max(...roundRatios))}`)
  if (bare) console.log(`- by CPU per request, bare forwarder ÷ brixgate: ${fmt(bare.cpuUs / gw.cpuUs)}; with random and no access log: ${fmt(bare.cpuUs / (lean?.cpuUs ?? NaN))}`)
  if (ref && lean) console.log(`- brixgate (random, no access log) / nginx: ${fmt(lean.rps / ref.rps)}`)
  const base = rows.find((r) => r.name === 'brixgate, baseline build')
  if (base) console.log(`- this build ÷ the baseline build: ${fmt(gw.rps / base.rps)} by req/s, ${fmt(gw.cpuUs / base.cpuUs)} by CPU per request at max, ${fmt(gw.equalCpuUs / base.equalCpuUs)} at equal load`)
  const core = rows.find((r) => r.name.startsWith("brixgate's forwarding core"))
  if (bare && core) console.log(`- brixgate's forwarding core (no features) / bare forwarder: ${fmt(core.rps / bare.rps)} by req/s; the features take brixgate from there to ${fmt(gw.rps / core.rps)}× the core`)
  if (bare) console.log(`- at equal load (${EQUAL_RATE} req/s each, all at once), CPU per request ÷ the bare forwarder's: brixgate ${fmt(gw.equalCpuUs / bare.equalCpuUs)}, random + no access log ${fmt((lean?.equalCpuUs ?? NaN) / bare.equalCpuUs)}, forwarding core ${fmt((core?.equalCpuUs ?? NaN) / bare.equalCpuUs)}`)
  console.log(`- brixgate added latency at ${FIXED_RATE} req/s: p50 +${fmt(gw.fixed.p50 - direct.fixed.p50)} ms (target ≤ 0.3), p99 +${fmt(gw.fixed.p99 - direct.fixed.p99)} ms (target ≤ 2)`)
  console.log(`- brixgate added latency, 200 KB prompt: p50 +${fmt(gw.big.p50 - direct.big.p50)} ms (target ≤ 5)`)
  if (ref) console.log(`- nginx added latency at ${FIXED_RATE} req/s: p50 +${fmt(ref.fixed.p50 - direct.fixed.p50)} ms, p99 +${fmt(ref.fixed.p99 - direct.fixed.p99)} ms`)
  // the floor for a Node proxy on this machine: what the bare forwarder adds is more than any Node proxy can beat
  if (bare) console.log(`- bare node http + undici forwarder added latency at ${FIXED_RATE} req/s: p50 +${fmt(bare.fixed.p50 - direct.fixed.p50)} ms, p99 +${fmt(bare.fixed.p99 - direct.fixed.p99)} ms`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
