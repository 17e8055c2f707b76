import type { Pod } from '../discovery/pod.js'

/** What a strategy may look at; plain data so strategies are pure and testable. */
export interface RoutingRequest {
  model: string
  /** Parsed request body. */
  body: Record<string, unknown>
  headers: Readonly<Record<string, string | string[] | undefined>>
  user?: string
}

export interface PodStats {
  /** Requests this gateway has open on the pod. */
  inflight(pod: Pod): number
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
}

export interface Strategy {
  readonly name: string
  /** Picks a pod, or returns undefined when it cannot (→ 503 x-error-routing). */
  pick(input: RoutingInput): RoutingDecision | undefined
}
