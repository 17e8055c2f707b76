import type { Pod } from '../../src/discovery/pod.js'
import type { RoutingDecision, RoutingInput, Strategy } from '../../src/routing/strategy.js'
import type { PodPerf } from '../../src/telemetry/perf.js'
import type { PodMetrics } from '../../src/telemetry/pod-metrics.js'

export const pod = (name: string, extra: Partial<Pod> = {}): Pod => ({
  id: `ns/${name}`,
  source: 'test',
  name,
  address: `10.0.0.${name.charCodeAt(0)}:8000`,
  metricsAddress: '',
  model: 'm',
  adapters: new Set(),
  labels: {},
  ready: true,
  ...extra
})

const basePerf: PodPerf = { ttftMs: 50, tpotMs: 10, prefillMsPerToken: 0.05, e2eMs: 1000, prefillTurnMs: 50, measured: true }

export interface Scenario {
  inflight?: Record<string, number>
  /** Defaults to the in-flight counts (every request still before its first token). */
  prefilling?: Record<string, number>
  /** Defaults to 1000 tokens per prefilling request. */
  prefillTokens?: Record<string, number>
  metrics?: Record<string, Partial<PodMetrics>>
  perf?: Record<string, Partial<PodPerf>>
  /** Tokens routed to each pod since its metrics were scraped. */
  routedTokens?: Record<string, number>
  /** Uncached prompt tokens sent to each pod lately. */
  computedTokens?: Record<string, number>
  text?: string
  /** Known batch caps per pod name. */
  batchCaps?: Record<string, number>
  headers?: Record<string, string>
  user?: string
  model?: string
  outputTokens?: number
  random?: () => number
}

/** A routing input from plain data, keyed by pod name. */
export function input(pods: readonly Pod[], s: Scenario = {}): RoutingInput {
  const text = s.text ?? 'hello'
  return {
    request: {
      model: s.model ?? 'm',
      body: {},
      headers: s.headers ?? {},
      user: s.user,
      text: () => text,
      promptTokens: Math.ceil(text.length / 4),
      outputTokens: s.outputTokens ?? 100
    },
    pods,
    stats: {
      inflight: (p) => s.inflight?.[p.name] ?? 0,
      prefilling: (p) => s.prefilling?.[p.name] ?? s.inflight?.[p.name] ?? 0,
      prefillTokens: (p) => s.prefillTokens?.[p.name] ?? 1000 * (s.prefilling?.[p.name] ?? s.inflight?.[p.name] ?? 0),
      metrics: (p) => (s.metrics?.[p.name] ? { at: 0, ...s.metrics[p.name] } : undefined),
      perf: (p) => ({ ...basePerf, ...s.perf?.[p.name] }),
      routedTokensSince: (p) => s.routedTokens?.[p.name] ?? 0,
      recentComputedTokens: (p) => s.computedTokens?.[p.name] ?? 0,
      batchCap: (p) => s.batchCaps?.[p.name]
    },
    random: s.random ?? Math.random
  }
}

/** What the route step does with a strategy: pick, then record the pick (accepted) on the chosen pod. */
export function decide(s: Strategy, inp: RoutingInput): RoutingDecision | undefined {
  const d = s.pick(inp)
  if (d) s.accepted?.(inp, d.pod)
  return d
}
