/**
 * npm run bench:admission [-- --quick] — the admission queue when every pod is full.
 *
 * 1. Decision cost: AdmissionQueue.admit on its fast path (free slots, nobody waiting), enqueueing
 *    when full, and handing a freed slot to the next waiter among 10 / 100 / 1000 waiting users;
 *    per-call times, p50 and p99.
 * 2. Saturation (virtual clock, routing + simulated engines in one process, src/sim/virtual-cluster.ts):
 *    4 a100 pods, batch cap 16 each; 4 users over 2 bands: `interactive` (high band) and three in
 *    the `batch` band, one of which floods. Offered load 1.5× the cluster's capacity (measured first,
 *    in the same run): interactive 0.3×, two modest users 0.1× each, the flooder 1.0×. (The modest
 *    users ask for less than a third of what the batch band is served, so the fair outcome is clear:
 *    all of theirs, the rest to the flooder; at 0.15× each they sit right at their share with the
 *    headroom below, and queueing noise decides.) Reported
 *    with the queue (admission on, per-pod cap 16; the batch band's podShare 0.5, and 1), without it
 *    (everything goes to the engines), and the interactive user alone (unloaded) as the baseline of
 *    its TTFT.
 * A full run writes docs/benchmarks-admission.md.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { configSchema } from '../src/config/schema.js'
import { AdmissionQueue, type Grant } from '../src/admission/queue.js'
import { builtinStrategies } from '../src/routing/registry.js'
import { VirtualCluster, type VirtualOutcome } from '../src/sim/virtual-cluster.js'
import { pct } from './lib.js'
import { rng, text } from './routing/workloads.js'

const quick = process.argv.includes('--quick')
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

// ── 1. decision cost

async function decisionCost(): Promise<string[]> {
  const cfg = configSchema.shape.admission.parse({ enabled: true, maxQueue: 1_000_000, bands: [{ name: 'standard', priority: 0, maxQueue: 1_000_000 }] })
  const band = cfg.bands[0]
  let free = Infinity
  const q = new AdmissionQueue(cfg, () => free, { admitted: () => {}, rejected: () => {} }, { now: () => performance.now(), after: () => () => {} })
  // a client that never leaves (an AbortFlag per request would cost the same; one shared would pile up listeners)
  const abort = { aborted: false, once: () => undefined, off: () => undefined }
  const N = quick ? 20_000 : 200_000
  const time = (fn: () => void): number[] => {
    const out: number[] = new Array(N)
    for (let i = 0; i < N; i++) {
      const t0 = performance.now()
      fn()
      out[i] = performance.now() - t0
    }
    return out
  }
  const fast = time(() => {
    const g = q.admit({ model: 'm', user: 'u', band, tokens: 500, abort }) as Grant
    g.routed()
    g.finished(480)
  })
  const rows = [`| fast path (free slots): admit + routed + finished | ${(pct(fast, 0.5) * 1000).toFixed(2)} | ${(pct(fast, 0.99) * 1000).toFixed(2)} |`]
  for (const users of [10, 100, 1000]) {
    free = 0
    const grants: Promise<Grant>[] = []
    const enqueue: number[] = []
    for (let i = 0; i < Math.min(N, 20_000); i++) {
      const t0 = performance.now()
      grants.push(q.admit({ model: 'm', user: `user-${i % users}`, band, tokens: 500, abort }) as Promise<Grant>)
      enqueue.push(performance.now() - t0)
    }
    // hand freed slots out one at a time: the next waiter (lowest counter among `users` waiting users);
    // the grants are not routed here, so they still hold their slots: one more free slot each time
    const dispatch: number[] = []
    const before = q.depth()[0].waiting
    for (let i = 0; i < grants.length; i++) {
      free = i + 1
      const t0 = performance.now()
      q.poke('m')
      dispatch.push(performance.now() - t0)
    }
    if (before - q.depth()[0].waiting !== grants.length) throw new Error('the dispatch bench did not hand out every slot')
    free = 0
    rows.push(`| enqueue when full (${users} users waiting) | ${(pct(enqueue, 0.5) * 1000).toFixed(2)} | ${(pct(enqueue, 0.99) * 1000).toFixed(2)} |`)
    rows.push(`| hand a freed slot to the next of ${users} waiting users | ${(pct(dispatch, 0.5) * 1000).toFixed(2)} | ${(pct(dispatch, 0.99) * 1000).toFixed(2)} |`)
    await Promise.all(grants.map((g) => g.then((x) => x.finished(500))))
    free = Infinity
  }
  return rows
}

// ── 2. saturation

const BATCH_CAP = 16
const SIM_SECONDS = quick ? 20 : 60
const WARMUP_MS = 5000
const USERS = [
  { name: 'interactive', share: 0.3 },
  { name: 'modest-1', share: 0.1 },
  { name: 'modest-2', share: 0.1 },
  { name: 'flooder', share: 1.0 }
] as const
/** The batch band may fill this share of each pod (headroom for the high band), in the main run. */
const HEADROOM_SHARE = 0.375
const admission = (batchShare: number) => ({
  maxInflightPerPod: BATCH_CAP,
  bands: [
    { name: 'high', priority: 10, queueTimeoutMs: 10_000 },
    { name: 'batch', priority: 0, queueTimeoutMs: 5000, podShare: batchShare }
  ],
  defaultBand: 'batch',
  // the capacity probe fills whole pods
  users: { interactive: 'high', probe: 'high' }
})

interface Sent {
  user: string
  outcome: VirtualOutcome
  promptTokens: number
}

async function run(opts: { rates: Record<string, number>; admission: boolean; seed: number; simSeconds?: number; batchShare?: number }): Promise<{ sent: Sent[]; simSeconds: number }> {
  const strategy = builtinStrategies(configSchema.shape.routing.parse({})).find((s) => s.name === 'cache-aware')!
  const cluster = new VirtualCluster({
    model: 'm',
    gpus: ['a100', 'a100', 'a100', 'a100'],
    kvTokens: 40_000,
    maxBatch: BATCH_CAP,
    strategy,
    scrapeIntervalMs: 1000,
    staleAfterMs: 10_000,
    seed: opts.seed,
    admission: opts.admission ? admission(opts.batchShare ?? HEADROOM_SHARE) : undefined
  })
  const simSeconds = opts.simSeconds ?? SIM_SECONDS
  const sent: Sent[] = []
  let q = 0
  for (const [user, rate] of Object.entries(opts.rates)) {
    if (rate <= 0) continue
    const r = rng(opts.seed * 31 + user.length * 7 + user.charCodeAt(user.length - 1))
    let t = 0
    const next = () => {
      t += (-Math.log(1 - r()) / rate) * 1000
      if (t > simSeconds * 1000) return
      cluster.clock.after(t - cluster.clock.now(), () => {
        const promptTokens = 300 + Math.floor(r() * 400)
        const body = { model: 'm', messages: [{ role: 'user', content: text(900_000 + q++, promptTokens) }], max_tokens: 64, stream: true }
        const { outcome } = cluster.send(body, {}, user)
        sent.push({ user, outcome, promptTokens })
        next()
      })
    }
    next()
  }
  await cluster.clock.run((simSeconds + 15) * 1000)
  return { sent, simSeconds }
}

/** Requests completed per simulated second while the cluster is kept full (admission on, far more offered than it serves). */
async function capacity(): Promise<number> {
  const seconds = 20
  const { sent } = await run({ rates: { probe: 400 }, admission: true, seed: 99, simSeconds: seconds })
  const done = sent.filter((s) => !s.outcome.failed && s.outcome.endAt !== undefined && s.outcome.endAt >= WARMUP_MS && s.outcome.endAt <= seconds * 1000)
  return done.length / (seconds - WARMUP_MS / 1000)
}

/** One user's requests sent after the warm-up: their latency, and what was served (per measured second). */
function summarise(sent: Sent[], simSeconds: number, user: string) {
  const mine = sent.filter((s) => s.user === user && s.outcome.sentAt >= WARMUP_MS)
  simSeconds -= WARMUP_MS / 1000
  const served = mine.filter((s) => !s.outcome.failed && s.outcome.endAt !== undefined)
  const ttft = served.map((s) => (s.outcome.firstTokenAt ?? s.outcome.endAt!) - s.outcome.sentAt)
  const tokens = served.reduce((n, s) => n + s.promptTokens + s.outcome.tokens, 0)
  const waits = mine.map((s) => s.outcome.queuedMs ?? (s.outcome.rejected ? s.outcome.endAt! - s.outcome.sentAt : 0))
  return {
    sent: mine.length,
    served: served.length,
    rejected: mine.filter((s) => s.outcome.rejected).length,
    ttftP50: pct(ttft, 0.5),
    ttftP90: pct(ttft, 0.9),
    tokensPerSecond: tokens / simSeconds,
    waitP90: pct(waits, 0.9),
    maxWait: Math.max(0, ...waits)
  }
}

/** Max-min fair shares of `capacity` among demands (water filling). */
function fairShares(capacity: number, demands: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  let left = capacity
  let open = Object.entries(demands).sort((a, b) => a[1] - b[1])
  while (open.length > 0) {
    const each = left / open.length
    const [name, d] = open[0]
    if (d <= each) {
      out[name] = d
      left -= d
      open = open.slice(1)
    } else {
      for (const [n] of open) out[n] = each
      open = []
    }
  }
  return out
}

/** The batch band's tokens served in `a` as a share of `b`'s. */
function pctOf(a: { sent: Sent[]; simSeconds: number }, b: { sent: Sent[]; simSeconds: number }): string {
  const batch = (r: { sent: Sent[]; simSeconds: number }) => USERS.filter((u) => u.name !== 'interactive').reduce((n, u) => n + summarise(r.sent, r.simSeconds, u.name).tokensPerSecond, 0)
  return `${((batch(a) / batch(b)) * 100).toFixed(0)} %`
}

async function main(): Promise<void> {
  const began = Date.now()
  const decision = await decisionCost()
  const cap = await capacity()
  const rates = Object.fromEntries(USERS.map((u) => [u.name, cap * u.share]))
  const seed = 7
  const unloaded = await run({ rates: { interactive: rates.interactive }, admission: true, seed })
  const withQueue = await run({ rates, admission: true, seed })
  const halfShare = await run({ rates, admission: true, seed, batchShare: 0.5 })
  const fullShare = await run({ rates, admission: true, seed, batchShare: 1 })
  const without = await run({ rates, admission: false, seed })
  const base = summarise(unloaded.sent, unloaded.simSeconds, 'interactive')
  const table = (label: string, r: { sent: Sent[]; simSeconds: number }) =>
    USERS.map((u) => {
      const s = summarise(r.sent, r.simSeconds, u.name)
      return `| ${label} | ${u.name} (${u.name === 'interactive' ? 'high' : 'batch'}) | ${(u.share).toFixed(2)}× | ${s.sent} | ${s.served} | ${s.rejected} | ${s.ttftP50.toFixed(0)} | ${s.ttftP90.toFixed(0)} | ${s.tokensPerSecond.toFixed(0)} | ${s.waitP90.toFixed(0)} | ${(s.maxWait / 1000).toFixed(2)} |`
    })
  const q = Object.fromEntries(USERS.map((u) => [u.name, summarise(withQueue.sent, withQueue.simSeconds, u.name)]))
  // the batch band's capacity is what the high band leaves; its users' fair shares by tokens served
  const totalTokens = Object.values(q).reduce((n, s) => n + s.tokensPerSecond, 0)
  const batchCapacity = totalTokens - q.interactive.tokensPerSecond
  // what each user asked for: the tokens of the requests it sent in the measured window, per second
  const demand = (user: string) => withQueue.sent.filter((s) => s.user === user && s.outcome.sentAt >= WARMUP_MS).reduce((n, s) => n + s.promptTokens + 64, 0) / (withQueue.simSeconds - WARMUP_MS / 1000)
  const demands = Object.fromEntries(USERS.filter((u) => u.name !== 'interactive').map((u) => [u.name, demand(u.name)]))
  const fair = fairShares(batchCapacity, demands)
  const ttftRatio = q.interactive.ttftP90 / base.ttftP90
  const waitedPast = withQueue.sent.filter((s) => s.outcome.sentAt >= 0).filter((s) => (s.outcome.queuedMs ?? 0) > (s.user === 'interactive' ? 10_000 : 5000) + 1).length
  const checks = [
    `- high band TTFT p90 ${q.interactive.ttftP90.toFixed(0)} ms = ${ttftRatio.toFixed(2)}× its unloaded ${base.ttftP90.toFixed(0)} ms (target ≤ 1.2×): ${ttftRatio <= 1.2 ? 'met' : 'NOT met'}`,
    `- flooder served ${q.flooder.tokensPerSecond.toFixed(0)} tokens/s; its max-min fair share of the batch band's ${batchCapacity.toFixed(0)} tokens/s is ${fair.flooder.toFixed(0)} (target ≤ fair share, 5 % slack): ${q.flooder.tokensPerSecond <= fair.flooder * 1.05 ? 'met' : 'NOT met'}`,
    `- the modest users, asking less than their share, got ${((q['modest-1'].tokensPerSecond / demands['modest-1']) * 100).toFixed(0)} % and ${((q['modest-2'].tokensPerSecond / demands['modest-2']) * 100).toFixed(0)} % of what they asked for`,
    `- requests that waited past their band's queue timeout: ${waitedPast} (target 0): ${waitedPast === 0 ? 'met' : 'NOT met'}`
  ]
  const minutes = ((Date.now() - began) / 60_000).toFixed(1)
  const md = [
    '# Admission queue benchmark',
    '',
    `Generated by \`npm run bench:admission${quick ? ' -- --quick' : ''}\` in ${minutes} min (node ${process.version}); bench/admission.ts says how.`,
    '',
    '## Decision cost (µs per call, this machine)',
    '',
    '| operation | p50 | p99 |',
    '|---|---:|---:|',
    ...decision,
    '',
    `## Saturation: offered load 1.5× capacity (${cap.toFixed(1)} req/s measured), ${SIM_SECONDS} simulated s, first ${WARMUP_MS / 1000} not measured`,
    '',
    ...checks,
    '',
    '| run | user (band) | offered (× capacity) | sent | served | 503 | TTFT p50 ms | TTFT p90 ms | tokens/s served | queue wait p90 ms | longest queue wait s |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| unloaded | interactive (high) | 0.30× | ${base.sent} | ${base.served} | ${base.rejected} | ${base.ttftP50.toFixed(0)} | ${base.ttftP90.toFixed(0)} | ${base.tokensPerSecond.toFixed(0)} | ${base.waitP90.toFixed(0)} | ${(base.maxWait / 1000).toFixed(2)} |`,
    ...table(`queue on, batch podShare ${HEADROOM_SHARE}`, withQueue),
    ...table('queue on, batch podShare 0.5', halfShare),
    ...table('queue on, batch podShare 1', fullShare),
    ...table('queue off', without),
    '',
    `The trade-off is the batch band's \`podShare\`: with ${HEADROOM_SHARE} it stops at ${Math.floor(BATCH_CAP * HEADROOM_SHARE)} of each pod's ${BATCH_CAP} slots (all requests counted), so the high band always finds one free and the pods' batches stay small; its TTFT stays near the unloaded value, and the batch band is served ${pctOf(withQueue, fullShare)} of the tokens it gets with \`podShare: 1\` (${pctOf(halfShare, fullShare)} with 0.5). With 1 every slot is used, and the high band waits for a slot and runs in full batches. Without the queue every request goes to the engines, which queue them first come, first served: everybody's TTFT grows with the backlog, and the flooder takes what it sends.`
  ].join('\n')
  if (!quick) writeFileSync(here('../../docs/benchmarks-admission.md'), md + '\n')
  console.log(md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
