import type { Pod } from '../discovery/pod.js'
import type { PodStats } from '../routing/strategy.js'
import type { PodPerf } from './perf.js'
import type { PodLoad } from './pod-load.js'
import type { PodMetrics } from './pod-metrics.js'

/** Where the numbers strategies read come from. */
export interface StatsSources {
  /** This gateway's requests on each pod. */
  load: PodLoad
  /** Requests other gateway replicas have open, per pod address (0 without Redis). */
  fleetInflight: (address: string) => number
  /** Fresh scraped metrics, or undefined. */
  metrics: (pod: Pod) => PodMetrics | undefined
  perf: (pod: Pod) => PodPerf
  /** Known batch caps (learned or configured). */
  batchCap?: (pod: Pod) => number | undefined
}

/** The strategies' view of every pod, read live from the gateway's bookkeeping. */
export function podStats(s: StatsSources): PodStats {
  return {
    inflight: (p) => s.load.inflight.get(p.address) + s.fleetInflight(p.address),
    prefilling: (p) => s.load.prefilling.get(p.address),
    prefillTokens: (p) => s.load.prefillTokens(p.address),
    metrics: s.metrics,
    perf: s.perf,
    routedTokensSince: (p, at) => s.load.kvTokensSince(p.address, at),
    recentComputedTokens: (p) => s.load.recentComputedTokens(p.address),
    batchCap: (p) => s.batchCap?.(p)
  }
}
