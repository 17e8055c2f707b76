/**
 * The routing benchmark's load generator on a virtual clock: the same Poisson arrivals of the
 * same workload requests as replay.ts, sent to an in-process VirtualCluster instead of a
 * gateway URL, measured in simulated time.
 */
import { configSchema } from '../../src/config/schema.js'
import { builtinStrategies } from '../../src/routing/registry.js'
import { VirtualCluster, type VirtualOutcome } from '../../src/sim/virtual-cluster.js'
import type { ReplayResult } from './replay.js'
import type { PrefixShare } from '../../src/sharing/shared-routing.js'
import { CLUSTER, rng, workloads } from './workloads.js'

export interface VirtualReplayOptions {
  workload: string
  strategy: string
  rate: number
  seed: number
  simSeconds: number
  warmupSimSeconds: number
  drainSimSeconds: number
  /** The gateway's scrape interval and staleness limit, simulated ms. */
  scrapeIntervalMs: number
  staleAfterMs: number
  /** Gateway replicas in front of the pods (default one), sharing routing state or not. */
  replicas?: { count: number; share: boolean }
}

export async function replayVirtual(o: VirtualReplayOptions): Promise<ReplayResult & { hitRate: number }> {
  const w = workloads().find((x) => x.name === o.workload)!
  // a fresh strategy per run (and per replica), with the gateway's default settings
  const strategy = (share?: PrefixShare) => {
    const s = builtinStrategies(configSchema.shape.routing.parse({}), share).find((x) => x.name === o.strategy)
    if (!s) throw new Error(`unknown strategy ${o.strategy}`)
    return s
  }
  const cluster = new VirtualCluster({
    model: 'm',
    gpus: w.gpus,
    kvTokens: CLUSTER.kvTokens,
    maxBatch: w.maxBatch ?? CLUSTER.maxBatch,
    adapters: w.adapters,
    maxLoras: w.maxLoras,
    strategy: o.replicas && o.replicas.count > 1 ? strategy : strategy(),
    replicas: o.replicas,
    scrapeIntervalMs: o.scrapeIntervalMs,
    staleAfterMs: o.staleAfterMs,
    seed: o.seed
  })
  const { clock } = cluster
  const r = rng(o.seed)
  const measured: VirtualOutcome[] = []
  let pending = 0
  let lastEnd = 0
  // arrivals draw from `r` in the same order as replay.ts: the same requests at the same times
  let t = 0
  const arrive = () => {
    const { body, conversation } = w.next(r)
    const { outcome, done } = cluster.send(body)
    if (t >= o.warmupSimSeconds * 1000) measured.push(outcome)
    pending++
    void done.then(() => {
      pending--
      lastEnd = Math.max(lastEnd, outcome.endAt ?? clock.now())
      if (conversation !== undefined) w.answered?.(conversation, outcome.answer || 'ok')
    })
    scheduleNext()
  }
  const scheduleNext = () => {
    t += (-Math.log(1 - r()) / o.rate) * 1000
    if (t <= o.simSeconds * 1000) clock.after(t - clock.now(), arrive)
  }
  scheduleNext()
  const deadline = (o.simSeconds + o.drainSimSeconds) * 1000
  await clock.run(deadline)
  const out: ReplayResult = { ttft: [], tpot: [], e2e: [], tokens: 0, ok: 0, sent: measured.length, elapsedSimSeconds: 0 }
  for (const x of measured) {
    if (x.failed) continue
    if (x.endAt === undefined) {
      // cut at the deadline: its wait so far is a lower bound of its TTFT
      if (x.firstTokenAt === undefined) out.ttft.push(deadline - x.sentAt)
      continue
    }
    const first = x.firstTokenAt ?? x.endAt
    out.ok++
    out.tokens += x.tokens
    out.ttft.push(first - x.sentAt)
    if (x.tokens > 1) out.tpot.push((x.endAt - first) / (x.tokens - 1))
    out.e2e.push(x.endAt - x.sentAt)
  }
  out.elapsedSimSeconds = (pending > 0 ? deadline : lastEnd) / 1000 - o.warmupSimSeconds
  return { ...out, hitRate: await cluster.hitRate() }
}
