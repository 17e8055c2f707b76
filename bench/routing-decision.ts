/**
 * npm run bench:decision — how long one routing decision takes for 100 pods and a 100 KB prompt,
 * per strategy, against `random` measured in the same run. Target (routing issue): p99 ≤ 0.2 ms.
 */
import { parseConfig } from '../src/config/load.js'
import type { Pod } from '../src/discovery/pod.js'
import { builtinStrategies } from '../src/routing/registry.js'
import type { RoutingInput } from '../src/routing/strategy.js'
import { fmt } from './lib.js'

const ITER = process.argv.includes('--quick') ? 1000 : 5000
const ROUNDS = 5
const PODS = 100

const pods: Pod[] = Array.from({ length: PODS }, (_, i) => ({
  id: `ns/pod-${i}`,
  source: 'bench',
  name: `pod-${i}`,
  address: `10.0.${i >> 8}.${i & 255}:8000`,
  metricsAddress: `10.0.${i >> 8}.${i & 255}:8000`,
  model: 'm',
  adapters: new Set(),
  labels: { gpu: ['l4', 'a100', 'h100'][i % 3] },
  ready: true
}))
const inflight = pods.map((_, i) => (i * 7) % 13)
const metrics = pods.map((_, i) => ({ at: Date.now(), running: i % 9, waiting: i % 3, kvCacheUsage: (i % 10) / 10, gpuCacheUsage: (i % 10) / 10 }))
const perf = pods.map((_, i) => ({ ttftMs: 20 + (i % 5) * 10, tpotMs: 5 + (i % 4) * 5, prefillMsPerToken: 0.02 + (i % 3) * 0.03, e2eMs: 1000, prefillTurnMs: 20, measured: true }))
const index = new Map(pods.map((p, i) => [p.id, i]))
// 100 KB: a 90 KB shared context plus a varying question, as a long multi-turn chat would be
const shared = 'The quick brown fox jumps over the lazy dog. '.repeat(2000).slice(0, 90_000)

function inputFor(i: number): RoutingInput {
  const text = `${shared}question ${i} ${'x'.repeat(10_000 - 20)}`
  const body = { model: 'm', messages: [{ role: 'user', content: text }] }
  return {
    request: { model: 'm', body, headers: { 'x-aibrix-session-key': `s${i % 50}` }, user: `u${i % 20}`, text: () => text, promptTokens: text.length / 4, outputTokens: 128 },
    pods,
    stats: { inflight: (p) => inflight[index.get(p.id)!], prefilling: (p) => inflight[index.get(p.id)!] >> 1, prefillTokens: (p) => (inflight[index.get(p.id)!] >> 1) * 500, metrics: (p) => metrics[index.get(p.id)!], perf: (p) => perf[index.get(p.id)!], routedTokensSince: () => 0, recentComputedTokens: (p) => inflight[index.get(p.id)!] * 3000, batchCap: () => undefined },
    random: Math.random
  }
}

async function main(): Promise<void> {
  const routing = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } } }).routing
  const strategies = builtinStrategies(routing)
  const inputs = Array.from({ length: 64 }, (_, i) => inputFor(i))
  // rounds interleave the strategies, so a burst of noise on this shared machine hits one round of
  // each rather than all of one strategy; the median round is reported
  const samples = new Map(strategies.map((s) => [s.name, [] as number[][]]))
  // one decision as the route step makes it: pick, then the strategy records the pick (accepted).
  // A fresh request object each time: strategies memoise per request, and a decision must pay its hashing.
  const decide = (s: (typeof strategies)[number], base: RoutingInput) => {
    const input = { ...base, request: { ...base.request } }
    const t0 = performance.now()
    const d = s.pick(input)
    if (d) s.accepted?.(input, d.pod)
    return performance.now() - t0
  }
  for (const s of strategies) for (let i = 0; i < 300; i++) decide(s, inputs[i % inputs.length]) // warm-up (JIT, index filled)
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of strategies) {
      const times: number[] = []
      for (let i = 0; i < ITER / ROUNDS; i++) {
        times.push(decide(s, inputs[i % inputs.length]))
      }
      samples.get(s.name)!.push(times.sort((a, b) => a - b))
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const rows = strategies.map((s) => {
    const rounds = samples.get(s.name)!
    return { name: s.name, p50: median(rounds.map((r) => r[Math.floor(r.length / 2)])), p99: median(rounds.map((r) => r[Math.floor(r.length * 0.99)])) }
  })
  const base = rows.find((r) => r.name === 'random')!
  console.log(`\n${PODS} pods, 100 KB prompt, ${ITER} decisions each in ${ROUNDS} rounds, median round (node ${process.version})\n`)
  console.log('| strategy | p50 ms | p99 ms | p50 vs random |')
  console.log('|---|---:|---:|---:|')
  for (const r of rows) console.log(`| ${r.name} | ${fmt(r.p50, 4)} | ${fmt(r.p99, 4)} | ${fmt(r.p50 / base.p50, 1)}× |`)
  const worst = rows.reduce((a, b) => (b.p99 > a.p99 ? b : a))
  console.log(`\nslowest p99: ${worst.name} ${fmt(worst.p99, 3)} ms (target ≤ 0.2 ms)`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
