import type { Pod } from '../discovery/pod.js'
import type { PodStats } from '../routing/strategy.js'

/**
 * How many more requests the pods can take now without queueing inside an engine: each pod's cap
 * (the configured per-pod concurrency, else its batch cap, vLLM --max-num-seqs, labelled or
 * learned; `share` of it for a band with headroom for higher ones) minus what every gateway replica has open there. A pod with no known cap is full only
 * while its scraped queue (num_requests_waiting) is not empty; otherwise it is open (Infinity).
 */
export function freeSlots(pods: readonly Pod[], stats: PodStats, maxInflightPerPod: number, share = 1): number {
  let free = 0
  for (const p of pods) free += podFreeSlots(p, stats, maxInflightPerPod, share)
  return free
}

/** `share` < 1: only that part of the cap counts (a band that leaves headroom to higher ones). */
function podFreeSlots(p: Pod, stats: PodStats, maxInflightPerPod: number, share = 1): number {
  const cap = maxInflightPerPod > 0 ? maxInflightPerPod : stats.batchCap(p)
  if (cap === undefined) return (stats.metrics(p)?.waiting ?? 0) > 0 ? 0 : Infinity
  return Math.max(0, Math.floor(cap * share) - stats.inflight(p))
}

/**
 * The pods a request let through by the admission queue may go to: those with a free slot (a
 * strategy must not send it to a full pod's engine queue while another pod has room). When none
 * has one (another replica took it meanwhile), all of them: the grant is not taken back.
 */
export function withFreeSlot(pods: readonly Pod[], stats: PodStats, maxInflightPerPod: number): readonly Pod[] {
  const open = pods.filter((p) => podFreeSlots(p, stats, maxInflightPerPod) > 0)
  return open.length > 0 ? open : pods
}
