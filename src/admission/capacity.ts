import type { Pod } from '../discovery/pod.js'
import type { PodStats } from '../routing/strategy.js'

/**
 * How many more requests the pods can take now without queueing inside an engine: each pod's cap
 * (the configured per-pod concurrency, else its batch cap, vLLM --max-num-seqs, labelled or
 * learned) minus what every gateway replica has open there. A pod with no known cap is full only
 * while its scraped queue (num_requests_waiting) is not empty; otherwise it is open (Infinity).
 */
export function freeSlots(pods: readonly Pod[], stats: PodStats, maxInflightPerPod: number): number {
  let free = 0
  for (const p of pods) {
    const cap = maxInflightPerPod > 0 ? maxInflightPerPod : stats.batchCap(p)
    if (cap === undefined) {
      if ((stats.metrics(p)?.waiting ?? 0) > 0) continue
      return Infinity
    }
    free += Math.max(0, cap - stats.inflight(p))
  }
  return free
}
