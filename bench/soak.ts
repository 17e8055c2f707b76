/**
 * npm run bench:soak [-- --minutes=10] [--quick] — steady streamed load for minutes, with random
 * client aborts and one pod restart half-way, against the built CLI in front of 3 simulator
 * processes. Samples the gateway's RSS, open file descriptors (sockets included) and in-flight
 * gauges every 10 s; prints growth per minute after the first minute (warm-up) and checks that
 * every in-flight gauge is back to 0 once the load stops. Loopback only; it stops by itself.
 */
import { readdirSync, readFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { fmt, startChild, type Started } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1]
const MINUTES = process.argv.includes('--quick') ? 1 : Number(arg('minutes') ?? 10)
const CLIENTS = 24
const ABORT_SHARE = 0.1
const SAMPLE_MS = 10_000
const cli = here('../src/cli.js')

const sim = (port: number) => startChild(process.execPath, [cli, 'sim', '--host', '127.0.0.1', '--port', String(port), '--model', 'soak', '--time-scale', '0.05', '--log-level', 'error'])
const procStatus = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8')
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(procStatus(pid))?.[1] ?? NaN) / 1024
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

async function inflightSum(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  let sum = 0
  for (const m of text.matchAll(/^brixgate_pod_inflight_requests\{[^}]*\} (\d+)/gm)) sum += Number(m[1])
  return sum
}

/** Least-squares slope of y over x (per x unit). */
function slope(points: [number, number][]): number {
  const n = points.length
  if (n < 2) return NaN
  const mx = points.reduce((s, p) => s + p[0], 0) / n
  const my = points.reduce((s, p) => s + p[1], 0) / n
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0)
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0)
  return num / den
}

async function main(): Promise<void> {
  const pods: Started[] = []
  for (let i = 0; i < 3; i++) pods.push(await sim(0))
  const ports = pods.map((p) => Number(new URL(p.url).port))
  const cfg = join(mkdtempSync(join(tmpdir(), 'brixgate-soak-')), 'config.json')
  writeFileSync(cfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0, logLevel: 'warn' }, discovery: { static: { models: [{ name: 'soak', endpoints: ports.map((p) => `127.0.0.1:${p}`) }] } }, routing: { defaultStrategy: 'cache-aware' } }))
  const gw = await startChild(process.execPath, [cli, '--config', cfg])
  const pid = gw.child.pid!
  const pool = new Pool(gw.url, { connections: CLIENTS })
  const until = Date.now() + MINUTES * 60_000
  const counts = { ok: 0, aborted: 0, failed: 0, cut: 0 }
  const body = (i: number) => JSON.stringify({ model: 'soak', messages: [{ role: 'system', content: `tenant ${i % 8} system prompt `.repeat(40) }, { role: 'user', content: `question ${i}` }], stream: true, max_tokens: 32 })
  let n = 0
  const client = async () => {
    while (Date.now() < until) {
      const i = n++
      const abort = Math.random() < ABORT_SHARE ? new AbortController() : undefined
      if (abort) setTimeout(() => abort.abort(), 5 + Math.random() * 40)
      try {
        const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: body(i), signal: abort?.signal })
        const text = await res.body.text()
        if (res.statusCode !== 200) counts.failed++
        else if (text.includes('"error"')) counts.cut++
        else counts.ok++
      } catch {
        if (abort?.signal.aborted) counts.aborted++
        else counts.failed++
      }
    }
  }
  const samples: { t: number; rss: number; fds: number; inflight: number }[] = []
  const started = Date.now()
  const sample = async () => samples.push({ t: (Date.now() - started) / 60_000, rss: rssMb(pid), fds: fds(pid), inflight: await inflightSum(gw.url) })
  const sampler = setInterval(() => void sample(), SAMPLE_MS)
  // one pod restart half-way: killed, back on the same port 2 s later
  const restart = setTimeout(async () => {
    pods[1].child.kill('SIGKILL')
    await new Promise((r) => setTimeout(r, 2000))
    pods[1] = await sim(ports[1])
    console.log(`pod 1 restarted at ${fmt((Date.now() - started) / 60_000, 1)} min`)
  }, (MINUTES * 60_000) / 2)
  await sample()
  await Promise.all(Array.from({ length: CLIENTS }, client))
  clearInterval(sampler)
  clearTimeout(restart)
  await pool.close()
  await new Promise((r) => setTimeout(r, 2000))
  await sample()
  const after = samples[samples.length - 1]
  const steady = samples.filter((s) => s.t >= Math.min(1, MINUTES / 2) && s !== after)
  console.log(`\nsoak ${MINUTES} min, ${CLIENTS} streaming clients, ${ABORT_SHARE * 100} % aborted, one pod restart: ${counts.ok} complete, ${counts.aborted} aborted by the client, ${counts.cut} cut (pod restart), ${counts.failed} failed`)
  console.log('\n| minute | RSS MB | open fds | in flight |\n|---:|---:|---:|---:|')
  for (const s of samples) console.log(`| ${fmt(s.t, 1)} | ${fmt(s.rss, 0)} | ${s.fds} | ${s.inflight} |`)
  console.log(`\n- RSS growth after warm-up: ${fmt(slope(steady.map((s) => [s.t, s.rss])), 2)} MB/min (target < 1)`)
  console.log(`- open fds growth after warm-up: ${fmt(slope(steady.map((s) => [s.t, s.fds])), 2)} per min`)
  console.log(`- in-flight gauges after the load: ${after.inflight} (target 0) — ${after.inflight === 0 ? 'met' : 'NOT met'}`)
  gw.stop()
  for (const p of pods) p.stop()
  process.exit(0)
}

await main()
