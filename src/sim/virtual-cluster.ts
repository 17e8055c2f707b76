import type { Pod } from '../discovery/pod.js'
import { bandFor } from '../admission/bands.js'
import { freeSlots } from '../admission/capacity.js'
import { AdmissionQueue, type AdmissionClock, type Grant } from '../admission/queue.js'
import { configSchema, type AdmissionConfig, type AdmissionInput } from '../config/schema.js'
import { GatewayError } from '../errors/catalogue.js'
import { AbortFlag } from '../pipeline/abort-flag.js'
import { parseRequest } from '../pipeline/parse.js'
import { candidates, learn, route, type RouteDeps } from '../pipeline/route.js'
import { expectedTokens, routingRequest } from '../pipeline/routing-request.js'
import type { PodStats, Strategy } from '../routing/strategy.js'
import { SharedRoutingState, type PrefixShare } from '../sharing/shared-routing.js'
import { MemoryRoutingHub } from '../sharing/transport.js'
import { BatchCaps, configuredCap } from '../telemetry/batch-cap.js'
import { InflightTracker } from '../telemetry/inflight.js'
import { PerfTracker } from '../telemetry/perf.js'
import { PodLoad } from '../telemetry/pod-load.js'
import { fresh, parseVllmMetrics, prefixHitRate, type PodMetrics } from '../telemetry/pod-metrics.js'
import { podStats } from '../telemetry/pod-stats.js'
import { VirtualClock } from './clock.js'
import { SimEngine } from './engine.js'
import { gpuProfile } from './profiles.js'
import { enginePrompt } from './prompt.js'
import { rng } from './random.js'
import { outputToken } from './text.js'

export interface VirtualClusterOptions {
  model: string
  /** GPU profile of each pod. */
  gpus: readonly string[]
  kvTokens?: number
  maxBatch?: number
  /** LoRA adapters every pod serves, and its adapter slots. */
  adapters?: readonly string[]
  maxLoras?: number
  /**
   * A fresh strategy instance (strategies with state must not carry it over from another run); with
   * several gateway replicas, a factory (each replica has its own, given the shared state when on).
   */
  strategy: Strategy | ((share?: PrefixShare) => Strategy)
  /**
   * Gateway replicas in front of the pods (default 1), as deployed: each with its own strategy,
   * prefix index, in-flight bookkeeping and admission queue; requests spread over them at random
   * (a Service). In-flight counts are shared every `fleetSyncMs` (Redis, as deployed); with `share`,
   * the prefix strategies' records go to the other replicas after `shareDelayMs` (batch + network).
   */
  replicas?: { count: number; share: boolean; fleetSyncMs?: number; shareDelayMs?: number }
  /** The admission queue in front of full pods (config admission); absent = off. */
  admission?: AdmissionInput
  /** The gateway's metrics scrape interval and staleness limit, simulated ms. */
  scrapeIntervalMs: number
  staleAfterMs: number
  /** Seeds routing's tie-breaks and the scrape jitter. */
  seed: number
}

/** How one request went, in simulated ms; firstTokenAt and endAt stay undefined while it runs. */
export interface VirtualOutcome {
  sentAt: number
  firstTokenAt?: number
  endAt?: number
  /** Output tokens received so far, and their text. */
  tokens: number
  answer: string
  /** The engine refused it (longer than its KV cache), or no pod serves the model, or the admission queue refused it. */
  failed: boolean
  /** Why the admission queue refused it (queue_full, queue_timeout, queue_shed). */
  rejected?: string
  /** Simulated ms it waited in the admission queue. */
  queuedMs?: number
  /** The gateway replica it went through. */
  replica?: number
}

/** One gateway replica's own state: routing bookkeeping, strategy, admission queue. */
interface VirtualGateway {
  load: PodLoad
  perf: PerfTracker
  strategy: Strategy
  routeDeps: RouteDeps
  admission?: AdmissionQueue
  /** Other replicas' in-flight counts per pod address, as of the last fleet sync. */
  fleet: Map<string, number>
}

/**
 * The gateway's routing and N simulated vLLM engines in one process on a virtual clock: each
 * request is parsed, offered to the strategy with the same PodStats the gateway builds (its own
 * in-flight and KV bookkeeping, metrics scraped from the engines' Prometheus text on an
 * interval, measured speeds) and run on the chosen engine. No sockets and no wall time: minutes
 * of traffic run in seconds and a run repeats exactly for a seed. Run the clock up to an end time
 * (`clock.run(ms)`): the scrape loop never runs out of events.
 */
export class VirtualCluster {
  readonly clock = new VirtualClock()
  private readonly engines: SimEngine[]
  private readonly pods: Pod[]
  private readonly latest = new Map<string, PodMetrics>()
  /** Learned from the scrapes, as the gateway's scraper does. */
  private readonly batchCaps = new BatchCaps()
  /** Scrape jitter draws from its own stream, so the scrape interval does not change routing's random picks. */
  private readonly jitter: () => number
  /** Which replica a request reaches: its own stream too (unused with one replica). */
  private readonly spread: () => number
  private readonly gateways: VirtualGateway[]
  private readonly admissionConfig: AdmissionConfig | undefined
  /** The shared routing state of each replica (when sharing is on), for its counts. */
  readonly shared: SharedRoutingState[] = []

  constructor(private readonly opts: VirtualClusterOptions) {
    const now = () => this.clock.now()
    const random = rng(opts.seed)
    this.jitter = rng(opts.seed + 0x9e3779b9)
    this.spread = rng(opts.seed + 0x85ebca77)
    const replicas = opts.replicas ?? { count: 1, share: false }
    this.admissionConfig = opts.admission && configSchema.shape.admission.parse({ ...opts.admission, enabled: true })
    const hub = replicas.share ? new MemoryRoutingHub((ms, fn) => this.clock.after(ms, fn), replicas.shareDelayMs ?? 2) : undefined
    const shareConfig = configSchema.shape.routing.parse({}).share
    const adaptedClock: AdmissionClock = {
      now,
      after: (ms, fn) => {
        let live = true
        this.clock.after(ms, () => live && fn())
        return () => (live = false)
      }
    }
    let first: Strategy | undefined
    this.gateways = Array.from({ length: replicas.count }, () => {
      const shared = hub && new SharedRoutingState(shareConfig, hub.transport(), (ms, fn) => this.clock.after(ms, fn))
      if (shared) this.shared.push(shared)
      const strategy = typeof opts.strategy === 'function' ? opts.strategy(shared) : opts.strategy
      if (strategy === first) throw new Error('each replica needs its own strategy: pass a factory')
      first ??= strategy
      const load = new PodLoad(new InflightTracker(), opts.staleAfterMs, now)
      const perf = new PerfTracker()
      const fleet = new Map<string, number>()
      const stats: PodStats = podStats({
        load,
        fleetInflight: (address) => fleet.get(address) ?? 0,
        metrics: (pod) => fresh(this.latest.get(pod.address), now(), opts.staleAfterMs),
        perf: (pod) => perf.get(pod),
        batchCap: (pod) => configuredCap(pod.labels) ?? this.batchCaps.get(pod.address)
      })
      const gw: VirtualGateway = { load, perf, strategy, fleet, routeDeps: { stats, load, perf, random } }
      const cfg = this.admissionConfig
      if (cfg) gw.admission = new AdmissionQueue(cfg, (_model, share) => freeSlots(this.pods, stats, cfg.maxInflightPerPod, share), { admitted: () => {}, rejected: () => {} }, adaptedClock)
      return gw
    })
    const adapters = opts.adapters ?? []
    this.engines = opts.gpus.map(
      (gpu) => new SimEngine({ model: opts.model, profile: gpuProfile(gpu), timeScale: 1, kvTokens: opts.kvTokens, maxBatch: opts.maxBatch, maxLoras: opts.maxLoras ?? Math.max(1, adapters.length), clock: this.clock })
    )
    this.pods = opts.gpus.map((gpu, i) => {
      const address = `10.0.0.${i + 1}:8000`
      return { id: `virtual|${address}`, source: 'virtual', name: `pod-${i}-${gpu}`, address, metricsAddress: address, model: opts.model, adapters: new Set(adapters), labels: { gpu }, ready: true }
    })
    this.scrape()
    if (this.gateways.length > 1) this.syncFleet(replicas.fleetSyncMs ?? configSchema.shape.telemetry.parse({}).fleetSyncMs)
  }

  /** Every engine's /metrics text, parsed as the gateway's scraper does, on a jittered interval. */
  private scrape(): void {
    const at = this.clock.now()
    this.engines.forEach((engine, i) => {
      void engine.metrics.metrics().then((text) => {
        const m = parseVllmMetrics(text, at)
        this.latest.set(this.pods[i].address, m)
        this.batchCaps.observe(this.pods[i].address, m)
      })
    })
    this.clock.after(this.opts.scrapeIntervalMs * (0.8 + this.jitter() * 0.4), () => this.scrape())
  }

  /** Each replica learns the others' in-flight counts on an interval (FleetInflight through Redis, as deployed). */
  private syncFleet(intervalMs: number): void {
    for (const gw of this.gateways) {
      gw.fleet.clear()
      for (const other of this.gateways) {
        if (other === gw) continue
        for (const [address, n] of other.load.inflight.snapshot()) gw.fleet.set(address, (gw.fleet.get(address) ?? 0) + n)
      }
    }
    this.clock.after(intervalMs, () => this.syncFleet(intervalMs))
  }

  /** Prompt tokens served from cache over all prompt tokens, across the engines. */
  async hitRate(): Promise<number> {
    return prefixHitRate(await Promise.all(this.engines.map(async (engine) => parseVllmMetrics(await engine.metrics.metrics(), 0))))
  }

  /**
   * Sends a chat request now (simulated time) through one gateway replica; `outcome` fills in as it
   * runs, `done` resolves at its end. A body the gateway would refuse (400) throws its GatewayError.
   */
  send(body: object, headers: Record<string, string> = {}, user?: string): { outcome: VirtualOutcome; done: Promise<VirtualOutcome> } {
    const outcome: VirtualOutcome = { sentAt: this.clock.now(), tokens: 0, answer: '', failed: false }
    const parsed = parseRequest('chat', Buffer.from(JSON.stringify(body)))
    const replica = this.gateways.length > 1 ? Math.floor(this.spread() * this.gateways.length) : 0
    const gw = this.gateways[replica]
    outcome.replica = replica
    const cfg = this.admissionConfig
    if (!gw.admission || !cfg) return { outcome, done: this.run(gw, parsed, headers, user, outcome) }
    const band = bandFor(cfg, user, headers[cfg.header])
    const expected = expectedTokens(parsed)
    const grant = gw.admission.admit({ model: parsed.model, user, band, tokens: expected.prompt + expected.output, abort: new AbortFlag() })
    if (!(grant instanceof Promise)) return { outcome, done: this.run(gw, parsed, headers, user, outcome, grant) }
    const done = grant.then(
      (g) => {
        outcome.queuedMs = this.clock.now() - outcome.sentAt
        return this.run(gw, parsed, headers, user, outcome, g)
      },
      (err: unknown) => {
        outcome.failed = true
        outcome.rejected = err instanceof GatewayError ? err.kind : 'internal'
        outcome.endAt = this.clock.now()
        return outcome
      }
    )
    return { outcome, done }
  }

  /** The route, engine and learn steps of one request on one replica (the same route and learn code as the gateway's). */
  private run(gw: VirtualGateway, parsed: ReturnType<typeof parseRequest>, headers: Record<string, string>, user: string | undefined, outcome: VirtualOutcome, grant?: Grant): Promise<VirtualOutcome> {
    const { strategy, routeDeps } = gw
    const sentAt = this.clock.now()
    const request = routingRequest(parsed, headers, user)
    const prompt = enginePrompt(parsed.body, this.opts.model, this.opts.adapters ?? [])
    // the sim's tokenizer is what a pod's /tokenize answers
    if (strategy.wantsTokens) request.tokens = prompt.tokens
    const serving = this.pods.filter((p) => p.model === parsed.model || p.adapters.has(parsed.model))
    // the same route step as the gateway's request path
    const routed = route(routeDeps, strategy, request, candidates(parsed.model, serving, new Set(), routeDeps.stats, { admissionCap: gw.admission && this.admissionConfig?.maxInflightPerPod }))
    grant?.routed()
    const engine = routed && this.engines[this.pods.indexOf(routed.decision.pod)]
    const outputTokens = parsed.maxTokens ?? 16
    if (!routed || !engine || !engine.fits(prompt.tokens.length, outputTokens)) {
      routed?.ticket.release()
      grant?.finished(undefined)
      outcome.failed = true
      return Promise.resolve(outcome)
    }
    const { ticket } = routed
    const callbacks = {
      onFirstToken: () => {
        outcome.firstTokenAt = this.clock.now()
        ticket.firstByte()
      },
      onToken: (i: number) => {
        outcome.tokens++
        outcome.answer += outputToken(prompt.seed, i)
      }
    }
    return engine.generate(prompt.hashes, prompt.tokens.length, outputTokens, new AbortController().signal, callbacks, prompt.adapter).then((r) => {
      outcome.endAt = this.clock.now()
      ticket.release()
      grant?.finished(prompt.tokens.length + outcome.tokens)
      // what the gateway learns from the usage of a finished stream (the same learn step)
      // measured from when it went to the pod, as the gateway does (a queue wait is not the pod's time)
      const ttftMs = (outcome.firstTokenAt ?? outcome.endAt) - sentAt
      learn(routeDeps, strategy, routed, user, { promptTokens: prompt.tokens.length, cachedTokens: r.cachedTokens, completionTokens: outcome.tokens }, { e2eMs: outcome.endAt - sentAt, ttftMs })
      return outcome
    })
  }
}
