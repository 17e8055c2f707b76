import type { Pod } from '../discovery/pod.js'
import type { PodPerf } from '../telemetry/perf.js'
import type { PodMetrics } from '../telemetry/pod-metrics.js'

/** What a strategy may look at; plain data so strategies are pure and testable. */
export interface RoutingRequest {
  model: string
  /** Parsed request body. */
  body: Record<string, unknown>
  headers: Readonly<Record<string, string | string[] | undefined>>
  user?: string
  /** The prompt as routing text: chat message contents joined, or the prompt. */
  text(): string
  /** Estimated prompt tokens (bytes / 4). */
  promptTokens: number
  /** Expected output tokens (max_tokens, else a default). */
  outputTokens: number
  /** The prompt's token ids from a pod's /tokenize, for strategies that ask for them (else undefined). */
  tokens?: readonly number[]
  /**
   * Strategies' per-request scratch (prompt hashes, what accepted() recorded), keyed by an object of
   * the strategy's own: computed in pick, read back in the hooks, gone with the request.
   */
  memo?: Map<object, unknown>
}

export interface PodStats {
  /** Requests this gateway has open on the pod. */
  inflight(pod: Pod): number
  /** Of those, the ones still waiting for their first token (in the pod's prefill queue). */
  prefilling(pod: Pod): number
  /** Prompt tokens those still have to prefill (the strategy's estimate of what is not cached, else the whole prompt). */
  prefillTokens(pod: Pod): number
  /** Fresh scraped vLLM metrics, or undefined (stale or missing: use in-flight counts). */
  metrics(pod: Pod): PodMetrics | undefined
  /** Gateway-measured speed (seeded from the GPU label before any measurement). */
  perf(pod: Pod): PodPerf
  /**
   * KV tokens (prompt + expected output) this gateway added to the pod after `at` (ms, Date.now
   * clock): requests routed since, minus requests that ended since — what changed since a scrape.
   */
  routedTokensSince(pod: Pod, at: number): number
  /** Prompt tokens this gateway sent the pod to compute (not cached) over the last minute: what its prefix cache was filled with lately. */
  recentComputedTokens(pod: Pod): number
  /** The pod's batch cap (vLLM max-num-seqs) when it is known: learned from scrapes, or configured. */
  batchCap(pod: Pod): number | undefined
}

export interface RoutingInput {
  request: RoutingRequest
  /** Routable pods for the model; never empty. */
  pods: readonly Pod[]
  stats: PodStats
  random: () => number
}

export interface RoutingDecision {
  pod: Pod
  /** Short human text for x-routing-reason. */
  reason: string
  /** Response headers the strategy adds (session-affinity's x-session-id). */
  headers?: Record<string, string>
  /** Share of the prompt found in the pod's prefix cache (prefix strategies). */
  prefixMatch?: number
  /** Prompt tokens the pod will have to compute (not cached), when the strategy knows. */
  prefillTokens?: number
}

export interface Completion {
  pod: Pod
  user?: string
  promptTokens: number
  completionTokens: number
}

export interface Strategy {
  readonly name: string
  /** Picks a pod, or returns undefined when it cannot (→ 503 x-error-routing). Reads only: learning is in the hooks below. */
  pick(input: RoutingInput): RoutingDecision | undefined
  /** Per-pod scores (aligned with input.pods) for weighted mixes; `better` says which end wins. Reads only. */
  score?(input: RoutingInput): number[]
  readonly better?: 'low' | 'high'
  /** Asks the pipeline for the prompt's token ids (one /tokenize call per request) before pick(). */
  readonly wantsTokens?: boolean
  /**
   * The request was dispatched to `pod` (the EPP's PreRequest): record the decision (prefix index,
   * counters). Called once per attempt, after pick() and before the pod is sent the request.
   */
  accepted?(input: RoutingInput, pod: Pod): void
  /** The attempt on `pod` failed before the client got a byte: undo what accepted() recorded for it. */
  retracted?(input: RoutingInput, pod: Pod): void
  /** Told when a request it routed has finished (fairness and cache bookkeeping). */
  completed?(c: Completion): void
}

/** Index of the best score; NaN is skipped; ties broken uniformly at random (one draw), so equal pods share load. The one tie rule. */
export function bestIndex(scores: readonly number[], better: 'low' | 'high', random: () => number): number | undefined {
  let best = better === 'low' ? Infinity : -Infinity
  let first = -1
  let ties: number[] | undefined
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]
    if (Number.isNaN(s)) continue
    if (first === -1 || (better === 'low' ? s < best : s > best)) {
      best = s
      first = i
      ties = undefined
    } else if (s === best) (ties ??= [first]).push(i)
  }
  if (first === -1) return undefined
  return ties ? ties[Math.floor(random() * ties.length)] : first
}

/** The pod with the best score (see bestIndex). */
export function pickBest(input: RoutingInput, scores: readonly number[], better: 'low' | 'high'): { pod: Pod; score: number } | undefined {
  const i = bestIndex(scores, better, input.random)
  return i === undefined ? undefined : { pod: input.pods[i], score: scores[i] }
}

/** A strategy from a scoring function. */
export function scoring(name: string, better: 'low' | 'high', score: (input: RoutingInput) => number[], describe: (score: number) => string): Strategy {
  return {
    name,
    better,
    score,
    pick(input) {
      const best = pickBest(input, score(input), better)
      return best && { pod: best.pod, reason: `${name} ${describe(best.score)}` }
    }
  }
}
