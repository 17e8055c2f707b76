import type { Pod } from '../discovery/pod.js'
import type { PodStats } from './strategy.js'

/**
 * For a LoRA adapter: pods already running it (vllm:lora_requests_info), else pods with a free
 * adapter slot, else all. Base-model requests and pods without metrics are left alone.
 */
export function loraCandidates(model: string, pods: readonly Pod[], stats: PodStats): readonly Pod[] {
  if (pods.every((p) => p.model === model)) return pods
  const running = pods.filter((p) => stats.metrics(p)?.runningAdapters?.includes(model))
  if (running.length > 0) return running
  const free = pods.filter((p) => {
    const m = stats.metrics(p)
    return m?.runningAdapters !== undefined && m.maxLora !== undefined && m.runningAdapters.length < m.maxLora
  })
  return free.length > 0 ? free : pods
}
