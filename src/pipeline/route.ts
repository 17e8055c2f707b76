import type { Pod } from '../discovery/pod.js'
import { withFreeSlot } from '../admission/capacity.js'
import { loraCandidates } from '../routing/lora-affinity.js'
import type { PodStats, RoutingDecision, RoutingInput, RoutingRequest, Strategy } from '../routing/strategy.js'
import type { PerfTracker } from '../telemetry/perf.js'
import type { LoadTicket, PodLoad } from '../telemetry/pod-load.js'

/** What the route and learn steps need; the HTTP pipeline and the virtual cluster both build one. */
export interface RouteDeps {
  stats: PodStats
  load: PodLoad
  perf: PerfTracker
  random: () => number
}

/** A decision and the load it puts on its pod until released. */
export interface Routed {
  /** What the strategy saw (its learning hooks get the same). */
  input: RoutingInput
  decision: RoutingDecision
  ticket: LoadTicket
  /** Requests of this gateway already waiting for a first token on the pod when this one was sent. */
  queuedAhead: number
}

/** Pods not tried yet by this request (all of them on its first attempt). */
export function untried(pods: readonly Pod[], tried: ReadonlySet<string>): readonly Pod[] {
  return tried.size === 0 ? pods : pods.filter((p) => !tried.has(p.id))
}

/** Pods below a per-pod concurrency cap (0 = no cap), counting every gateway replica's requests. */
export function belowCap(pods: readonly Pod[], cap: number, stats: PodStats): readonly Pod[] {
  return cap <= 0 ? pods : pods.filter((p) => stats.inflight(p) < cap)
}

export interface CandidateOptions {
  /** upstream.maxInflightPerPod (0 = none): pods at it are left out, and none left is a 503. */
  cap?: number
  /** The pod holding the request's Responses conversation (previous_response_id). */
  pinned?: string
  /** With the admission queue on, its per-pod cap (0 = batch caps): pods with a free slot first. */
  admissionCap?: number
}

/**
 * Candidate pods, by named filters in order: not yet tried (on a retry); the pod a conversation is
 * pinned to (it alone holds the stored response); below the concurrency cap; with a free slot
 * (admission on); LoRA affinity.
 */
export function candidates(model: string, pods: readonly Pod[], tried: ReadonlySet<string>, stats: PodStats, opts: CandidateOptions = {}): readonly Pod[] {
  const left = untried(pods, tried)
  const pin = opts.pinned === undefined ? undefined : left.find((p) => p.id === opts.pinned)
  if (pin) return [pin]
  const below = belowCap(left, opts.cap ?? 0, stats)
  const open = opts.admissionCap === undefined ? below : withFreeSlot(below, stats, opts.admissionCap)
  return open.length === 0 ? open : loraCandidates(model, open, stats)
}

/**
 * The route step: the strategy picks among the candidates; the pick is counted on its pod and the
 * strategy records it (accepted: the request goes there now). `retract` undoes the record when the
 * attempt fails before the client got a byte, so a retry elsewhere leaves only the pod that served.
 */
export function route(deps: RouteDeps, strategy: Strategy, request: RoutingRequest, pods: readonly Pod[]): Routed | undefined {
  if (pods.length === 0) return undefined
  const input: RoutingInput = { request, pods, stats: deps.stats, random: deps.random }
  const decision = strategy.pick(input)
  if (!decision) return undefined
  const address = decision.pod.address
  const queuedAhead = deps.load.prefilling.get(address)
  const ticket = deps.load.start(address, request.promptTokens + request.outputTokens, decision.prefillTokens ?? request.promptTokens)
  strategy.accepted?.(input, decision.pod)
  return { input, decision, ticket, queuedAhead }
}

/** An attempt failed before the commit point: the pod gets back its load and the strategy forgets it held the prompt. */
export function retract(strategy: Strategy, routed: Routed): void {
  routed.ticket.release()
  strategy.retracted?.(routed.input, routed.decision.pod)
}

export interface UsageFacts {
  promptTokens: number
  cachedTokens?: number
  completionTokens: number
}

/** The learn step: what a finished request taught us goes back to speed estimates and stateful strategies. */
export function learn(deps: RouteDeps, strategy: Strategy, routed: Routed, user: string | undefined, usage: UsageFacts, timing: { e2eMs: number; ttftMs?: number }): void {
  const pod = routed.decision.pod
  deps.perf.observe(pod, { promptTokens: usage.promptTokens, cachedTokens: usage.cachedTokens, completionTokens: usage.completionTokens, e2eMs: timing.e2eMs, ttftMs: timing.ttftMs, queuedAhead: routed.queuedAhead })
  strategy.completed?.({ pod, user, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens })
}

/** Usage fields of an OpenAI answer, read defensively. */
export function usageFacts(usage: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: unknown } | undefined): UsageFacts {
  const details = usage?.prompt_tokens_details as { cached_tokens?: unknown } | null | undefined
  return {
    promptTokens: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0,
    cachedTokens: typeof details?.cached_tokens === 'number' ? details.cached_tokens : undefined,
    completionTokens: typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : 0
  }
}
