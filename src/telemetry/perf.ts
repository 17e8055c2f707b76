import type { Pod } from '../discovery/pod.js'

/** Gateway-measured speed of one pod (EWMA), seeded from its GPU label until measured. */
export interface PodPerf {
  /** Time to first token, ms. */
  ttftMs: number
  /** Time per output token after the first, ms. */
  tpotMs: number
  /** Prefill cost per uncached prompt token, ms. */
  prefillMsPerToken: number
  /** Whole request, ms. */
  e2eMs: number
  /** Time one queued prefill holds up the ones behind it: TTFT ÷ (prefills ahead + 1), ms. */
  prefillTurnMs: number
  measured: boolean
}

export interface Completion {
  promptTokens: number
  /** Prompt tokens the engine served from its prefix cache (usage.prompt_tokens_details.cached_tokens). */
  cachedTokens?: number
  completionTokens: number
  /** Only streams know when the first token came. */
  ttftMs?: number
  /** Requests already waiting for their first token on the pod when this one was sent. */
  queuedAhead?: number
  e2eMs: number
}

/** Rough per-GPU seeds (relative to public dense BF16 TFLOPS / HBM bandwidth), used before any measurement. */
const SEEDS: Record<string, Omit<PodPerf, 'measured'>> = {
  h100: { ttftMs: 25, tpotMs: 6, prefillMsPerToken: 0.02, e2eMs: 800, prefillTurnMs: 25 },
  a100: { ttftMs: 45, tpotMs: 10, prefillMsPerToken: 0.05, e2eMs: 1300, prefillTurnMs: 45 },
  a10g: { ttftMs: 100, tpotMs: 25, prefillMsPerToken: 0.11, e2eMs: 3000, prefillTurnMs: 100 },
  l4: { ttftMs: 120, tpotMs: 40, prefillMsPerToken: 0.12, e2eMs: 4500, prefillTurnMs: 120 }
}
const DEFAULT_SEED = { ttftMs: 60, tpotMs: 15, prefillMsPerToken: 0.06, e2eMs: 2000, prefillTurnMs: 60 }
const GPU_LABELS = ['gpu', 'model.aibrix.ai/gpu', 'nvidia.com/gpu.product', 'accelerator']
const ALPHA = 0.2
const MIN_PREFILL_SAMPLE = 256

export function gpuOf(pod: Pod): string | undefined {
  for (const key of GPU_LABELS) {
    const v = pod.labels[key]?.toLowerCase()
    if (!v) continue
    for (const name of Object.keys(SEEDS)) if (v.includes(name)) return name
  }
  return undefined
}

const ewma = (prev: number, sample: number) => prev + ALPHA * (sample - prev)

export class PerfTracker {
  private readonly perf = new Map<string, PodPerf>()

  get(pod: Pod): PodPerf {
    return this.perf.get(pod.address) ?? { ...(SEEDS[gpuOf(pod) ?? ''] ?? DEFAULT_SEED), measured: false }
  }

  observe(pod: Pod, c: Completion): void {
    if (c.completionTokens <= 0 && c.ttftMs === undefined) return
    let p = this.perf.get(pod.address)
    const first = p === undefined
    if (!p) this.perf.set(pod.address, (p = this.get(pod))) // starts from the seed; updated in place (hot path)
    const blend = (prev: number, sample: number) => (first ? sample : ewma(prev, sample))
    p.measured = true
    p.e2eMs = blend(p.e2eMs, c.e2eMs)
    if (c.ttftMs !== undefined) {
      p.ttftMs = blend(p.ttftMs, c.ttftMs)
      p.prefillTurnMs = blend(p.prefillTurnMs, c.ttftMs / ((c.queuedAhead ?? 0) + 1))
      // prefill speed is learned only from requests that really computed a sizeable prompt with no
      // other prefill of ours queued ahead: a TTFT measured in a queue counts the queue too, and a
      // pod that looks slow that way is avoided — and so never measured again (seen on multi-LoRA:
      // 0.77 ms/token learned on an a100 that prefills at 0.1)
      const computed = c.promptTokens - (c.cachedTokens ?? 0)
      if (computed >= MIN_PREFILL_SAMPLE && (c.queuedAhead ?? 0) === 0) p.prefillMsPerToken = ewma(p.prefillMsPerToken, c.ttftMs / computed)
      if (c.completionTokens > 1) p.tpotMs = blend(p.tpotMs, (c.e2eMs - c.ttftMs) / (c.completionTokens - 1))
    } else if (c.completionTokens > 0) {
      // non-streamed: only the whole duration is known
      p.tpotMs = blend(p.tpotMs, Math.max(0, c.e2eMs - p.ttftMs) / c.completionTokens)
    }
  }
}
