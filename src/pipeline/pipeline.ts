import { Readable } from 'node:stream'
import type { Config } from '../config/schema.js'
import type { Pod } from '../discovery/pod.js'
import type { PodRegistry } from '../discovery/registry.js'
import { GatewayError } from '../errors/catalogue.js'
import type { Limiter } from '../limits/limiter.js'
import type { ModelRpsLimiter } from '../limits/model-rps.js'
import type { Logger } from '../observability/logger.js'
import { accessLogWriter, type AccessRecord } from '../observability/access-log.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { addPodHeaders, upstreamRequestHeaders } from '../proxy/headers.js'
import type { UpstreamPools } from '../proxy/pools.js'
import type { RetryBudget } from '../proxy/retry-budget.js'
import { normaliseUpstreamError } from '../proxy/upstream-error.js'
import type { FailureCause } from '../proxy/upstream-failure.js'
import { fetchTokens } from '../routing/prefix/tokenize-client.js'
import type { StrategyRegistry } from '../routing/registry.js'
import type { PodStats, Strategy } from '../routing/strategy.js'
import type { PerfTracker } from '../telemetry/perf.js'
import type { PodLoad } from '../telemetry/pod-load.js'
import { configuredCap } from '../telemetry/batch-cap.js'
import { podStats } from '../telemetry/pod-stats.js'
import type { MetricsScraper } from '../telemetry/scraper.js'
import { attempt, type AttemptHooks, type AttemptResult, type BufferedAttempt, type StreamAttempt, type UpstreamRequest } from './attempt.js'
import { RequestContext, type InboundRequest, type PipelineResponse, type Timings } from './context.js'
import type { Authenticator } from './identify.js'
import { endpoints } from './endpoints.js'
import { parseRequest, upstreamBody } from './parse.js'
import { relay, type RelayOutcome } from './relay.js'
import { candidates, learn, retract, route, untried, usageFacts, type RouteDeps, type Routed } from './route.js'
import { expectedTokens, routingRequest } from './routing-request.js'
import type { StatusRecorder } from '../observability/status.js'
import type { Tracing } from '../observability/tracing.js'
import type { ResponsePins } from '../routing/response-pins.js'
import { bodyUsage } from '../proxy/usage.js'
import { AdmissionQueue, type AdmissionClock } from '../admission/queue.js'
import { bandFor } from '../admission/bands.js'
import { freeSlots } from '../admission/capacity.js'
import { performance } from 'node:perf_hooks'
import { hundredthsText } from '../util/number-text.js'

export interface PipelineDeps {
  config: Config
  registry: PodRegistry
  strategies: StrategyRegistry
  /** This gateway's requests on each pod: open, waiting for a first byte, KV and prefill work. */
  load: PodLoad
  /** Requests other gateway replicas have open, per pod address (0 without Redis). */
  fleetInflight: (address: string) => number
  perf: PerfTracker
  scraper: MetricsScraper
  pools: UpstreamPools
  limiter: Limiter
  modelRps: ModelRpsLimiter
  auth: Authenticator
  metrics: GatewayMetrics
  logger: Logger
  retryBudget: RetryBudget
  random: () => number
  /** The status page's record of finished requests (optional: the pipeline works without it). */
  status?: StatusRecorder
  /** OpenTelemetry spans per request and attempt (config `tracing`); absent = off. */
  tracing?: Tracing
  /** Responses API conversations → the pod holding each (previous_response_id); absent = no pinning. */
  pins?: ResponsePins
  /** The admission queue's timers (tests); default the wall clock. */
  admissionClock?: AdmissionClock
}

/**
 * Metric label of a strategy. A mix is named by its parts without weights ("mix:least-kv-cache+least-request"):
 * which mix stays visible while client-chosen weights cannot grow the label set without bound.
 */
const strategyLabels = new Map<string, string>()
function strategyLabel(s: Strategy | undefined): string {
  if (!s) return ''
  let label = strategyLabels.get(s.name)
  if (label === undefined) {
    label = /[:,]/.test(s.name) ? `mix:${[...new Set(s.name.split(',').map((p) => p.split(':')[0].trim()))].sort().join('+')}` : s.name
    if (strategyLabels.size < 1000) strategyLabels.set(s.name, label)
  }
  return label
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

const header = (ctx: RequestContext, name: string): string | undefined => {
  const v = ctx.requestHeaders[name]
  return typeof v === 'string' && v.trim() !== '' ? v : undefined
}

/**
 * The inference request path, as named steps over one RequestContext:
 * identify → parse → admit → route → forward (to the commit point, failing over) → relay → settle.
 * It knows nothing of Fastify: it takes bytes and headers and returns what to write.
 */
export class InferencePipeline {
  private readonly stats: PodStats
  private readonly routeDeps: RouteDeps
  /** Streams being relayed, with how to cut each one (shutdown). */
  private readonly openStreams = new Map<RequestContext, (reason: GatewayError) => void>()
  /** Requests wait here while their model's pods are full (config admission.enabled). */
  readonly admission: AdmissionQueue | undefined

  /** The access-log line of a finished request (in pino's format, to the logger's destination). */
  private readonly accessLog: (record: AccessRecord) => void

  constructor(private deps: PipelineDeps) {
    this.accessLog = accessLogWriter(deps.logger)
    this.stats = podStats({
      load: deps.load,
      fleetInflight: deps.fleetInflight,
      metrics: (p) => deps.scraper.get(p),
      perf: (p) => deps.perf.get(p),
      batchCap: (p) => configuredCap(p.labels) ?? deps.scraper.batchCaps.get(p.metricsAddress)
    })
    this.routeDeps = { stats: this.stats, load: deps.load, perf: deps.perf, random: deps.random }
    const cfg = deps.config.admission
    if (cfg.enabled) {
      const { metrics } = deps
      const waits = new Map(cfg.bands.map((b) => [b.name, metrics.admissionWait.labels(b.name)]))
      this.admission = new AdmissionQueue(
        cfg,
        (model, share) => freeSlots(this.deps.registry.resolve(model).pods, this.stats, cfg.maxInflightPerPod, share),
        {
          admitted: (band, waitedMs) => waits.get(band)?.observe(waitedMs / 1000),
          rejected: (band, reason) => metrics.admissionRejected.inc({ band, reason })
        },
        deps.admissionClock
      )
      const queue = this.admission
      metrics.queueDepth = () => queue.depth()
    }
  }

  /**
   * A reloaded config (and strategies, when routing changed) for the next request. Requests in
   * progress keep what they started with: their strategy, upstream request and stream relay.
   */
  reconfigure(change: { config: Config; strategies: StrategyRegistry }): void {
    this.deps = { ...this.deps, ...change }
  }

  /** The context of a request that just arrived (the edge raises its abort flag when the client goes). */
  context(req: Omit<InboundRequest, 'body'>): RequestContext {
    return new RequestContext(req.endpoint, req.headers)
  }

  async run(ctx: RequestContext, body: Buffer): Promise<PipelineResponse> {
    if (this.deps.tracing) ctx.trace = this.deps.tracing.startRequest(ctx.endpoint, ctx.requestHeaders)
    try {
      this.identify(ctx)
      const pods = this.parse(ctx, body)
      const admitting = this.admit(ctx)
      if (admitting) await admitting
      return await this.forward(ctx, pods)
    } catch (err) {
      return this.fail(ctx, err)
    }
  }

  /** Ends every open stream with one error event; resolves how many were cut. */
  cutStreams(): number {
    const cuts = [...this.openStreams.values()]
    for (const cut of cuts) cut(new GatewayError('shutdown_cut'))
    return cuts.length
  }

  get streamsOpen(): number {
    return this.openStreams.size
  }

  // ── identify: who is calling, and which strategy routes the request

  private identify(ctx: RequestContext): void {
    ctx.user = this.deps.auth.identify(ctx.requestHeaders).user
    ctx.strategy = this.deps.strategies.resolve(header(ctx, 'routing-strategy') ?? this.deps.config.routing.defaultStrategy)
    ctx.headers['routing-strategy'] = ctx.strategy.name
  }

  // ── parse: the body facts routing needs; the model must have a routable pod

  private parse(ctx: RequestContext, body: Buffer): Pod[] {
    const parsed = parseRequest(ctx.endpoint, body)
    ctx.parsed = parsed
    const resolution = this.deps.registry.resolve(parsed.model)
    if (!resolution.known) throw new GatewayError('model_not_found', parsed.model, { param: 'model' })
    ctx.model = parsed.model
    ctx.trace?.model(parsed.model, parsed.maxTokens, parsed.stream)
    if (resolution.pods.length === 0) throw new GatewayError(resolution.ejected > 0 ? 'all_ejected' : 'no_backends', parsed.model)
    return resolution.pods
  }

  // ── admit: per-model and per-user limits

  /** Returns a promise only when there is something to wait for (a user's limits, the admission queue). */
  private admit(ctx: RequestContext): Promise<void> | undefined {
    const { deps } = this
    const parsed = ctx.parsed!
    if (!deps.modelRps.tryAcquire(parsed.model)) {
      deps.metrics.rateLimited.inc({ reason: 'model_rps' })
      throw new GatewayError('model_rps_exceeded', parsed.model)
    }
    if (ctx.user === undefined && !this.admission) {
      ctx.timings.admitted = ctx.elapsed()
      return undefined
    }
    return this.admitWaiting(ctx)
  }

  private async admitWaiting(ctx: RequestContext): Promise<void> {
    const { deps } = this
    const parsed = ctx.parsed!
    if (ctx.user !== undefined) {
      ctx.admission = await deps.limiter.admit(ctx.user, `${ctx.id}:${ctx.started}`, deps.limiter.reserveFor(parsed.raw.length, parsed.maxTokens))
      Object.assign(ctx.headers, ctx.admission.headers)
    }
    if (this.admission) {
      const cfg = deps.config.admission
      const band = bandFor(cfg, ctx.user, header(ctx, cfg.header))
      const expected = expectedTokens(parsed)
      const grant = this.admission.admit({ model: parsed.model, user: ctx.user, band, tokens: expected.prompt + expected.output, abort: ctx.abort })
      ctx.grant = grant instanceof Promise ? await grant : grant
      ctx.timings.queuedMs = ctx.grant.waitedMs
    }
    ctx.timings.admitted = ctx.elapsed()
  }

  // ── route + forward: pick a pod, send, and fail over until the commit point

  private upstreamRequest(ctx: RequestContext): UpstreamRequest {
    const { config } = this.deps
    const parsed = ctx.parsed!
    const { body, injectedUsage } = upstreamBody(parsed)
    const timeout = parsed.stream ? config.server.streamIdleTimeoutMs : config.server.requestTimeoutMs
    return {
      path: endpoints[ctx.endpoint].upstreamPath,
      headers: upstreamRequestHeaders(ctx.requestHeaders, { requestId: ctx.id, upstreamApiKey: config.auth.upstreamApiKey }),
      body,
      stream: parsed.stream,
      injectedUsage,
      usage: endpoints[ctx.endpoint].usage,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      firstByteTimeoutMs: config.upstream.firstByteTimeoutMs,
      keepAliveMs: parsed.stream ? config.upstream.keepAliveSeconds * 1000 : 0
    }
  }

  private async forward(ctx: RequestContext, firstPods: Pod[]): Promise<PipelineResponse> {
    const { deps } = this
    const parsed = ctx.parsed!
    const strategy = ctx.strategy!
    const upstream = this.upstreamRequest(ctx)
    ctx.routing = routingRequest(parsed, ctx.requestHeaders, ctx.user)
    if (strategy.wantsTokens) ctx.routing.tokens = await this.tokenize(ctx, firstPods)
    deps.retryBudget.request()
    const previous = parsed.body.previous_response_id
    ctx.pinned = typeof previous === 'string' ? deps.pins?.podFor(previous) : undefined
    let pods = firstPods
    for (;;) {
      const cap = deps.config.upstream.maxInflightPerPod
      const choice = candidates(parsed.model, pods, ctx.tried, this.stats, { cap, pinned: ctx.pinned, admissionCap: this.admission && deps.config.admission.maxInflightPerPod })
      // every pod left is at its concurrency cap: an overload answer the client can act on
      if (choice.length === 0 && cap > 0 && untried(pods, ctx.tried).length > 0) throw new GatewayError('all_saturated', parsed.model)
      const routed = route(this.routeDeps, strategy, ctx.routing, choice)
      if (!routed) throw new GatewayError('routing_failed', strategy.name)
      const pod = routed.decision.pod
      this.routed(ctx, routed)
      const sentAt = performance.now()
      ctx.timings.sent = sentAt - ctx.started
      const sending = ctx.trace ? { ...upstream, headers: ctx.trace.startAttempt(pod, ctx.retries + 1, upstream.headers) } : upstream
      ctx.timings.upstreamWritten = undefined
      const result = await attempt(deps.pools, pod, sending, ctx.abort, new AttemptTimings(ctx, pod, sentAt, deps))
      const cause = failureOf(result)
      if (cause === undefined && result.kind !== 'failed') {
        deps.registry.reportSuccess(pod.address)
        return this.commit(ctx, routed, result, sentAt)
      }
      retract(strategy, routed)
      ctx.trace?.attemptFailed(cause ?? 'failed')
      ctx.timings.failoverMs += performance.now() - sentAt
      ctx.markTried(pod.id)
      if (cause === undefined) throw new GatewayError('internal', 'attempt failed without a cause')
      this.podFailed(ctx, pod, cause)
      if (ctx.resets >= 2) {
        discard(result)
        deps.metrics.poisonRequests.inc()
        deps.logger.warn({ requestId: ctx.id, model: parsed.model, pods: [...ctx.tried] }, 'poison request: two pods reset while handling it; not retried again')
        throw new GatewayError('poison_request', `last pod ${pod.name}`)
      }
      pods = deps.registry.resolve(parsed.model).pods
      const untriedLeft = pods.some((p) => !ctx.tried.has(p.id))
      if (ctx.retries >= deps.config.upstream.retry.attempts || !untriedLeft || !deps.retryBudget.tryRetry()) {
        if (result.kind === 'failed') throw result.error
        // the last pod's own answer (an error status, a stream that opens with an error) goes to the client
        return this.commit(ctx, routed, result, sentAt)
      }
      discard(result)
      ctx.retries++
      deps.metrics.retries.inc({ cause })
    }
  }

  /** Records the decision on the context, in headers and metrics. */
  private routed(ctx: RequestContext, routed: Routed): void {
    const { deps } = this
    const { decision } = routed
    const pod = decision.pod
    ctx.pod = pod
    ctx.reason = pod.id === ctx.pinned ? `previous_response_id: the pod holding the conversation; ${decision.reason}` : decision.reason
    ctx.ticket = routed.ticket
    ctx.grant?.routed()
    ctx.timings.routed = ctx.elapsed()
    if (deps.load.inflight.get(pod.address) === 1) deps.registry.outlier.becameBusy(pod.address)
    ctx.headers['target-pod'] = pod.name
    ctx.headers['target-pod-ip'] = pod.address
    if (decision.headers) Object.assign(ctx.headers, decision.headers)
    if (deps.config.routing.explain) ctx.headers['x-routing-reason'] = `${decision.reason}; pod=${pod.name}`
    const label = strategyLabel(ctx.strategy)
    deps.metrics.decisions.labels(label, pod.name).inc()
    if (decision.prefixMatch !== undefined) deps.metrics.prefixMatch.labels(label).observe(decision.prefixMatch)
  }

  /** A Responses API answer's id now names a conversation held by this pod. */
  private pin(ctx: RequestContext, responseId: unknown): void {
    if (ctx.endpoint === 'responses' && typeof responseId === 'string' && ctx.pod) this.deps.pins?.pin(responseId, ctx.pod.id)
  }

  /** Outlier bookkeeping for a failed attempt (a 429 is the pod's load, not its health). */
  private podFailed(ctx: RequestContext, pod: Pod, cause: FailureCause): void {
    const { deps } = this
    deps.metrics.upstreamErrors.inc({ pod: pod.name, kind: cause })
    if (cause === 'reset' || cause === 'empty_stream') ctx.resets++
    if (cause === 'status_429') return
    if (deps.registry.reportFailure(pod.address)) {
      deps.metrics.ejections.inc({ reason: 'failures' })
      deps.logger.warn({ pod: pod.name, address: pod.address, cause, requestId: ctx.id }, 'pod ejected after consecutive failures')
    }
  }

  /** The prompt's token ids from the least busy pod (one tokenizer per model), or undefined. */
  private async tokenize(ctx: RequestContext, pods: readonly Pod[]): Promise<number[] | undefined> {
    const pod = pods.reduce((a, b) => (this.stats.inflight(b) < this.stats.inflight(a) ? b : a))
    const tokens = await fetchTokens(this.deps.pools, pod, ctx.parsed!.body, this.deps.config.routing.prefixCache.tokenizeTimeoutMs)
    this.deps.metrics.tokenizeCalls.inc({ outcome: tokens ? 'ok' : 'failed' })
    return tokens
  }

  // ── commit: the pod's first real answer; status and headers go to the client now

  private commitHeaders(ctx: RequestContext): void {
    ctx.timings.committed = ctx.elapsed()
    if (ctx.retries > 0) ctx.headers['x-retry-count'] = String(ctx.retries)
    ctx.headers['server-timing'] = serverTiming(ctx.timings)
  }

  /** A promise only when there is something to wait for (limits to settle): a request without them answers in the same tick. */
  private commit(ctx: RequestContext, routed: Routed, result: Exclude<AttemptResult, { kind: 'failed' }>, sentAt: number): PipelineResponse | Promise<PipelineResponse> {
    this.commitHeaders(ctx)
    ctx.trace?.attemptCommitted(result.kind === 'stream' ? 200 : result.status)
    if (result.kind === 'stream') return this.relayStream(ctx, routed, result, sentAt)
    const { status } = result
    if (status < 200 || status >= 300) return this.upstreamError(ctx, result)
    let json: { id?: unknown }
    try {
      json = JSON.parse(result.body.toString('utf8'))
    } catch {
      throw new GatewayError('upstream_unmarshal')
    }
    ctx.ticket?.firstByte()
    const reported = bodyUsage(endpoints[ctx.endpoint].usage, json)
    const used = reported?.total_tokens
    const usage = usageFacts(reported)
    if (reported) ctx.usage = usage
    this.pin(ctx, json?.id)
    // the pod's time: sent → its whole answer (the commit point; server-timing's first-byte)
    learn(this.routeDeps, ctx.strategy!, routed, ctx.user, usage, { e2eMs: ctx.timings.committed! - ctx.timings.sent! })
    ctx.tokens = used
    const answer = (headers: Record<string, string | string[]>): PipelineResponse => {
      addPodHeaders(headers, result.headers)
      this.finish(ctx, status)
      return { status, headers, body: result.body }
    }
    const settling = this.settled(ctx, used ?? 0)
    return settling instanceof Promise ? settling.then(answer) : answer(settling)
  }

  /** The pod's own error status, as the last pod's answer: its body normalised to the envelope. */
  private async upstreamError(ctx: RequestContext, result: BufferedAttempt): Promise<PipelineResponse> {
    const { status } = result
    const headers = await this.settled(ctx, 0)
    Object.assign(headers, JSON_HEADERS)
    headers['x-error-response-unknown'] = 'true'
    if (ctx.stream) headers['x-error-streaming'] = 'true'
    this.finish(ctx, status)
    const error = normaliseUpstreamError(status, result.body)
    return { status, headers, body: Buffer.from(JSON.stringify(endpoints[ctx.endpoint].typedErrorBody ? { type: 'error', ...error } : error)) }
  }

  // ── relay: a committed stream goes out as the client takes it; settle when it ends

  private relayStream(ctx: RequestContext, routed: Routed, s: StreamAttempt, sentAt: number): PipelineResponse {
    const { deps } = this
    const pod = routed.decision.pod
    let cut: GatewayError | undefined
    let firstByteAt: number | undefined
    const firstByte = () => {
      if (firstByteAt === undefined) ctx.timings.firstByte = ctx.elapsed()
      firstByteAt ??= performance.now()
      routed.ticket.firstByte()
    }
    if (s.relay.events > 0) firstByte()
    this.pin(ctx, s.relay.responseId)
    this.openStreams.set(ctx, (reason) => {
      cut = reason
      s.signal.abort()
    })
    let ended = false
    const onEnd = (outcome: RelayOutcome) => {
      if (ended) return
      ended = true
      this.openStreams.delete(ctx)
      routed.ticket.release()
      // a stream committed by a keep-alive learns its response id only later
      this.pin(ctx, s.relay.responseId)
      const used = outcome.usage?.total_tokens
      ctx.tokens = used
      if (outcome.usage) ctx.usage = usageFacts(outcome.usage)
      if (outcome.failed && !outcome.aborted) {
        deps.metrics.streamsCut.inc({ reason: cut ? 'shutdown' : 'upstream' })
        if (!cut) deps.logger.warn({ requestId: ctx.id, pod: pod.name }, 'stream from pod failed')
      }
      if (!outcome.failed && !outcome.aborted) {
        const now = performance.now()
        learn(this.routeDeps, ctx.strategy!, routed, ctx.user, usageFacts(outcome.usage), { e2eMs: now - sentAt, ttftMs: firstByteAt !== undefined ? firstByteAt - sentAt : undefined })
      }
      // a cut stream without usage keeps its reservation (undefined); a clean one settles what it used
      const status = outcome.aborted ? 499 : 200
      const settling = this.settle(ctx, used ?? (outcome.failed || outcome.aborted ? undefined : 0))
      if (settling) void settling.finally(() => this.finish(ctx, status))
      else this.finish(ctx, status)
    }
    const body = Readable.from(
      relay(s, {
        podName: pod.name,
        typedErrors: endpoints[ctx.endpoint].typedStreamError,
        keepAliveMs: this.deps.config.upstream.keepAliveSeconds * 1000,
        cutReason: () => cut,
        clientAborted: () => ctx.abort.aborted,
        onFirstByte: firstByte,
        onProgress: () => deps.registry.outlier.progress(pod.address),
        onEnd
      }),
      { objectMode: false }
    )
    // a body destroyed before it was ever read (the client left first) never runs the relay: end it here
    body.once('close', () => {
      if (ended) return
      s.body.destroy()
      onEnd({ failed: false, aborted: true })
    })
    addPodHeaders(ctx.headers, s.headers)
    return { status: 200, headers: ctx.headers, body }
  }

  // ── settle: limits, in-flight counts and metrics, exactly once per request

  /** Records the tokens used (undefined keeps the reservation); once per request. A promise only when there are limits to settle. */
  private settle(ctx: RequestContext, tokens: number | undefined): Promise<Record<string, string>> | undefined {
    if (!ctx.admission || ctx.settled) return undefined
    ctx.settled = true
    return ctx.admission.settle(tokens)
  }

  /** Settles; the response headers: the context's, with the limits' (remaining budget) over them. A promise only when limits were settled. */
  private settled(ctx: RequestContext, tokens: number): Record<string, string | string[]> | Promise<Record<string, string | string[]>> {
    const settling = this.settle(ctx, tokens)
    return settling ? settling.then((limits) => Object.assign(ctx.headers, limits)) : ctx.headers
  }

  private finish(ctx: RequestContext, status: number): void {
    if (ctx.finished) return
    ctx.finished = true
    ctx.status = status
    ctx.ticket?.release()
    // after the release: the slot it frees goes to the next request waiting
    ctx.grant?.finished(ctx.tokens)
    const { deps } = this
    const seconds = ctx.elapsed() / 1000
    if (ctx.tokens !== undefined) deps.metrics.tokensTotal.inc(ctx.tokens)
    deps.metrics.requests.labels(ctx.model ?? '', ctx.endpoint, String(status), strategyLabel(ctx.strategy)).inc()
    deps.metrics.duration.labels(ctx.endpoint, ctx.stream ? 'true' : 'false').observe(seconds)
    // the gateway's own time before the pod got the request (identify, parse, admit, route; retries included)
    const t = ctx.timings
    const firstByte = t.firstByte ?? t.upstreamHeaders
    const ttftMs = firstByte !== undefined && t.sent !== undefined ? firstByte - t.sent : undefined
    if (t.sent !== undefined) {
      deps.metrics.gatewayOverhead.observe((t.sent - t.failoverMs - t.queuedMs) / 1000)
      if (t.admitted !== undefined) {
        deps.metrics.stepAdmit.observe((t.admitted - t.queuedMs) / 1000)
        deps.metrics.stepRoute.observe((t.sent - t.admitted - t.failoverMs) / 1000)
      }
      if (t.upstreamWritten !== undefined) deps.metrics.stepConnect.observe(Math.max(0, t.upstreamWritten - t.sent) / 1000)
    }
    if (deps.status) this.recordStatus(deps.status, ctx, seconds, ttftMs)
    if (ctx.trace) {
      ctx.trace.end({
        status,
        pod: ctx.pod?.name,
        strategy: ctx.strategy?.name,
        retries: ctx.retries,
        inputTokens: ctx.usage?.promptTokens,
        outputTokens: ctx.usage?.completionTokens,
        ttftMs,
        error: ctx.errorKind
      })
    }
    if (deps.config.server.accessLog) {
      this.accessLog({
        requestId: ctx.id,
        model: ctx.model ?? ctx.parsed?.model?.slice(0, 256),
        user: ctx.user,
        strategy: ctx.strategy?.name,
        pod: ctx.pod?.name,
        status,
        stream: ctx.stream,
        retries: ctx.retries || undefined,
        tokens: ctx.tokens,
        ms: Math.round(seconds * 1000),
        upstreamMs: ctx.timings.sent !== undefined && ctx.timings.committed !== undefined ? Math.round(ctx.timings.committed - ctx.timings.sent) : undefined
      })
    }
  }

  private recordStatus(status: StatusRecorder, ctx: RequestContext, seconds: number, ttftMs: number | undefined): void {
    status.record({
      at: status.now(),
      requestId: ctx.id,
      model: ctx.model ?? '',
      user: ctx.user,
      strategy: ctx.strategy?.name ?? '',
      pod: ctx.pod?.name,
      reason: ctx.reason,
      status: ctx.status,
      stream: ctx.stream,
      retries: ctx.retries,
      tokens: ctx.tokens,
      ms: Math.round(seconds * 10000) / 10,
      ttftMs: ttftMs === undefined ? undefined : Math.round(ttftMs * 10) / 10
    })
    const w = ctx.admission?.window
    if (ctx.user !== undefined && w) status.user(ctx.user, w)
  }

  private async fail(ctx: RequestContext, err: unknown): Promise<PipelineResponse> {
    if (ctx.abort.aborted) {
      const headers = await this.settled(ctx, 0)
      this.finish(ctx, 499)
      return { status: 499, headers, body: Buffer.alloc(0) }
    }
    const gwErr = err instanceof GatewayError ? err : new GatewayError('internal', (err as Error)?.message ?? String(err))
    ctx.errorKind = gwErr.kind
    if (gwErr.kind === 'internal') this.deps.logger.error({ err, requestId: ctx.id }, 'unexpected error')
    // the request never produced an answer: nothing was used
    const headers = Object.assign(await this.settled(ctx, 0), gwErr.headersFor(ctx.stream), JSON_HEADERS)
    this.finish(ctx, gwErr.status)
    return { status: gwErr.status, headers, body: Buffer.from(JSON.stringify(gwErr.body(endpoints[ctx.endpoint].typedErrorBody))) }
  }
}

/**
 * The `server-timing` header (ms): admit = arrival → limits passed (queue wait left out); queue =
 * time waiting in the admission queue for a free pod slot (only when it waited); route = admitted → sent to the
 * pod that answered, failed attempts left out; failover = time in attempts that failed over;
 * connect = sent → written to the pod's socket (pool wait, TCP connect); first-byte = sent → the
 * pod's first answer; gateway = the gateway's own time before the pod got the request (admit +
 * route, without queue wait). Browsers' devtools and most tracing tools read it.
 */
export function serverTiming(t: Timings): string {
  // the entries joined once: one flat string, where `+=` left a chain of pieces that V8 must
  // flatten again for node's header check and the socket write
  const entries: string[] = []
  const add = (name: string, dur: number) => entries.push(`${name};dur=${hundredthsText(dur)}`)
  if (t.admitted !== undefined) add('admit', t.admitted - t.queuedMs)
  if (t.queuedMs > 0) add('queue', t.queuedMs)
  if (t.sent !== undefined && t.admitted !== undefined) add('route', t.sent - t.admitted - t.failoverMs)
  if (t.failoverMs > 0) add('failover', t.failoverMs)
  if (t.upstreamWritten !== undefined && t.sent !== undefined) add('connect', Math.max(0, t.upstreamWritten - t.sent))
  if (t.sent !== undefined && t.committed !== undefined) add('first-byte', t.committed - t.sent)
  if (t.sent !== undefined) add('gateway', t.sent - t.failoverMs - t.queuedMs)
  return entries.join(', ')
}

/** What an attempt reports as it goes, recorded on the request: one object per attempt (no closures). */
class AttemptTimings implements AttemptHooks {
  constructor(
    private readonly ctx: RequestContext,
    private readonly pod: Pod,
    private readonly sentAt: number,
    private readonly deps: Pick<PipelineDeps, 'metrics' | 'registry'>
  ) {}

  onHeaders(): void {
    this.ctx.timings.upstreamHeaders = this.ctx.elapsed()
    this.deps.metrics.ttft.labels(this.pod.name).observe((performance.now() - this.sentAt) / 1000)
  }

  onProgress(): void {
    this.deps.registry.outlier.progress(this.pod.address)
  }

  onWritten(at: number): void {
    this.ctx.timings.upstreamWritten = at - this.ctx.started
  }
}

/** Why an attempt's answer must not be the client's, when another pod may still do better. */
function failureOf(result: AttemptResult): FailureCause | undefined {
  if (result.kind === 'failed') return result.cause
  if (result.kind === 'buffered') return result.status >= 500 ? 'status_5xx' : result.status === 429 ? 'status_429' : undefined
  return result.relay.firstEventError ? 'error_event' : undefined
}

/** Drops an answer that will not be used. */
function discard(result: AttemptResult): void {
  if (result.kind === 'stream') result.body.destroy()
}
