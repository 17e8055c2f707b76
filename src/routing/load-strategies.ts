import type { Pod } from '../discovery/pod.js'
import { slotWaitMs } from '../telemetry/batch-cap.js'
import type { PodMetrics } from '../telemetry/pod-metrics.js'
import { scoring, type PodStats, type Strategy } from './strategy.js'

/**
 * Strategies that read one load signal per pod. Each falls back to gateway in-flight counts
 * (scaled so they never beat a real reading) when the pod's scraped metrics are stale or missing.
 */

const FALLBACK = 1000 // added to in-flight counts: beyond any usage estimate, so pods with data win

/**
 * The pod's KV usage now: the scraped fraction plus what this gateway has routed to it since the
 * scrape, minus what has ended since (prompt + expected output, over the cache's capacity from
 * vllm:cache_config_info).
 */
function usageNow(p: Pod, stats: PodStats, read: (m: PodMetrics) => number | undefined): number {
  const m = stats.metrics(p)
  const usage = m && read(m)
  if (m === undefined || usage === undefined) return FALLBACK + stats.inflight(p)
  return m.kvCapacityTokens ? Math.max(0, usage + stats.routedTokensSince(p, m.at) / m.kvCapacityTokens) : usage
}

const describeUsage = (label: string) => (v: number) => (v < FALLBACK ? `${label}=${(v * 100).toFixed(1)}%` : `no metrics, inflight=${v - FALLBACK}`)

/** Lowest KV-cache usage (vllm:kv_cache_usage_perc, else the older gpu_cache_usage_perc). */
export const leastKvCacheStrategy: Strategy = scoring(
  'least-kv-cache',
  'low',
  ({ pods, stats }) => pods.map((p) => usageNow(p, stats, (m) => m.kvCacheUsage)),
  describeUsage('kv')
)

/** Lowest GPU cache usage (vllm:gpu_cache_usage_perc, else kv_cache_usage_perc). */
export const leastGpuCacheStrategy: Strategy = scoring(
  'least-gpu-cache',
  'low',
  ({ pods, stats }) => pods.map((p) => usageNow(p, stats, (m) => m.gpuCacheUsage)),
  describeUsage('gpu-cache')
)

/**
 * Most spare token throughput: the pod's measured decode speed (tokens/s per request, from TPOT)
 * shared among its in-flight requests plus this one. Faster GPUs get proportionally more work.
 */
export const throughputStrategy: Strategy = scoring(
  'throughput',
  'high',
  ({ pods, stats }) => pods.map((p) => 1000 / Math.max(0.1, stats.perf(p).tpotMs) / (1 + stats.inflight(p) + (stats.metrics(p)?.waiting ?? 0))),
  (v) => `tokens/s share=${v.toFixed(1)}`
)

/**
 * Lowest predicted completion time for this request: one measured prefill turn for each request
 * still waiting for its first token on the pod, plus its own, then its expected output at the
 * pod's measured per-token speed, slowed a little by every request decoding alongside. The turn
 * (TTFT ÷ prefills ahead + 1), not the raw TTFT: a TTFT measured in a queue already counts that
 * queue, and a pod measured once under a burst would be shunned long after the burst.
 */
export const leastLatencyStrategy: Strategy = scoring(
  'least-latency',
  'low',
  ({ pods, stats, request }) =>
    pods.map((p) => {
      const perf = stats.perf(p)
      const ahead = stats.prefilling(p)
      const decoding = Math.max(0, stats.inflight(p) - ahead)
      // beyond a known batch cap the request first waits for a slot
      return slotWaitMs(stats.inflight(p), stats.batchCap(p), perf.e2eMs) + perf.prefillTurnMs * (1 + ahead) + request.outputTokens * perf.tpotMs * (1 + 0.01 * decoding)
    }),
  (ms) => `predicted=${ms.toFixed(0)}ms`
)

/** Least busy time: the work already on the pod, in-flight requests × its measured request duration. */
export const leastBusyTimeStrategy: Strategy = scoring(
  'least-busy-time',
  'low',
  ({ pods, stats }) => pods.map((p) => stats.inflight(p) * stats.perf(p).e2eMs),
  (ms) => `busy=${ms.toFixed(0)}ms`
)
