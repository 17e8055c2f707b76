import type { Pod } from '../discovery/pod.js'
import { parseRequest } from '../pipeline/parse.js'
import { candidates, learn, route, type RouteDeps } from '../pipeline/route.js'
import { routingRequest } from '../pipeline/routing-request.js'
import type { Strategy } from '../routing/strategy.js'
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
  /** A fresh strategy instance (strategies with state must not carry it over from another run). */
  strategy: Strategy
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
  /** The engine refused it (longer than its KV cache), or no pod serves the model. */
  failed: boolean
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
  private readonly load: PodLoad
  private readonly perf = new PerfTracker()
  private readonly latest = new Map<string, PodMetrics>()
  /** Learned from the scrapes, as the gateway's scraper does. */
  private readonly batchCaps = new BatchCaps()
  private readonly random: () => number
  /** Scrape jitter draws from its own stream, so the scrape interval does not change routing's random picks. */
  private readonly jitter: () => number
  private readonly routeDeps: RouteDeps

  constructor(private readonly opts: VirtualClusterOptions) {
    const now = () => this.clock.now()
    this.random = rng(opts.seed)
    this.jitter = rng(opts.seed + 0x9e3779b9)
    this.load = new PodLoad(new InflightTracker(), opts.staleAfterMs, now)
    const stats = podStats({
      load: this.load,
      fleetInflight: () => 0,
      metrics: (pod) => fresh(this.latest.get(pod.address), now(), opts.staleAfterMs),
      perf: (pod) => this.perf.get(pod),
      batchCap: (pod) => configuredCap(pod.labels) ?? this.batchCaps.get(pod.address)
    })
    this.routeDeps = { stats, load: this.load, perf: this.perf, random: this.random }
    const adapters = opts.adapters ?? []
    this.engines = opts.gpus.map(
      (gpu) => new SimEngine({ model: opts.model, profile: gpuProfile(gpu), timeScale: 1, kvTokens: opts.kvTokens, maxBatch: opts.maxBatch, maxLoras: opts.maxLoras ?? Math.max(1, adapters.length), clock: this.clock })
    )
    this.pods = opts.gpus.map((gpu, i) => {
      const address = `10.0.0.${i + 1}:8000`
      return { id: `virtual|${address}`, source: 'virtual', name: `pod-${i}-${gpu}`, address, metricsAddress: address, model: opts.model, adapters: new Set(adapters), labels: { gpu }, ready: true }
    })
    this.scrape()
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

  /** Prompt tokens served from cache over all prompt tokens, across the engines. */
  async hitRate(): Promise<number> {
    return prefixHitRate(await Promise.all(this.engines.map(async (engine) => parseVllmMetrics(await engine.metrics.metrics(), 0))))
  }

  /**
   * Sends a chat request now (simulated time); `outcome` fills in as it runs, `done` resolves at its
   * end. A body the gateway would refuse (400) throws its GatewayError.
   */
  send(body: object, headers: Record<string, string> = {}, user?: string): { outcome: VirtualOutcome; done: Promise<VirtualOutcome> } {
    const outcome: VirtualOutcome = { sentAt: this.clock.now(), tokens: 0, answer: '', failed: false }
    const parsed = parseRequest('chat', Buffer.from(JSON.stringify(body)))
    const { strategy } = this.opts
    const request = routingRequest(parsed, headers, user)
    const prompt = enginePrompt(parsed.body, this.opts.model, this.opts.adapters ?? [])
    // the sim's tokenizer is what a pod's /tokenize answers
    if (strategy.wantsTokens) request.tokens = prompt.tokens
    const serving = this.pods.filter((p) => p.model === parsed.model || p.adapters.has(parsed.model))
    // the same route step as the gateway's request path
    const routed = route(this.routeDeps, strategy, request, candidates(parsed.model, serving, new Set(), this.routeDeps.stats))
    const engine = routed && this.engines[this.pods.indexOf(routed.decision.pod)]
    const outputTokens = parsed.maxTokens ?? 16
    if (!routed || !engine || !engine.fits(prompt.tokens.length, outputTokens)) {
      routed?.ticket.release()
      outcome.failed = true
      return { outcome, done: Promise.resolve(outcome) }
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
    const done = engine.generate(prompt.hashes, prompt.tokens.length, outputTokens, new AbortController().signal, callbacks, prompt.adapter).then((r) => {
      outcome.endAt = this.clock.now()
      ticket.release()
      // what the gateway learns from the usage of a finished stream (the same learn step)
      const ttftMs = (outcome.firstTokenAt ?? outcome.endAt) - outcome.sentAt
      learn(this.routeDeps, strategy, routed, user, { promptTokens: prompt.tokens.length, cachedTokens: r.cachedTokens, completionTokens: outcome.tokens }, { e2eMs: outcome.endAt - outcome.sentAt, ttftMs })
      return outcome
    })
    return { outcome, done }
  }
}
