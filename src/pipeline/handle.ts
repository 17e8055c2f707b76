import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import type { Config } from '../config/schema.js'
import type { Pod } from '../discovery/pod.js'
import type { PodRegistry } from '../discovery/registry.js'
import { GatewayError, errorBody } from '../errors/catalogue.js'
import type { Admission, Limiter } from '../limits/limiter.js'
import type { ModelRpsLimiter } from '../limits/model-rps.js'
import type { Logger } from '../observability/logger.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { clientResponseHeaders, upstreamRequestHeaders } from '../proxy/headers.js'
import type { UpstreamPools } from '../proxy/pools.js'
import { SseRelay } from '../proxy/sse-relay.js'
import { normaliseUpstreamError } from '../proxy/upstream-error.js'
import { isAbort, isConnectFailure, upstreamFailure } from '../proxy/upstream-failure.js'
import type { StrategyRegistry } from '../routing/registry.js'
import { loraCandidates } from '../routing/lora-affinity.js'
import type { PodStats, Strategy } from '../routing/strategy.js'
import type { PerfTracker } from '../telemetry/perf.js'
import type { PodLoad } from '../telemetry/pod-load.js'
import { podStats } from '../telemetry/pod-stats.js'
import { fetchTokens } from '../routing/prefix/tokenize-client.js'
import type { MetricsScraper } from '../telemetry/scraper.js'
import { routingRequest } from './routing-request.js'
import { AbortFlag } from './abort-flag.js'
import type { Authenticator } from './identify.js'
import { endpointPaths, parseRequest, upstreamBody, type Endpoint, type ParsedRequest } from './parse.js'
import { requestIdFrom } from './request-id.js'

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
  random: () => number
}

/** State of one request as it moves along the pipeline. */
interface Flight {
  requestId: string
  endpoint: Endpoint
  started: number
  strategy?: Strategy
  parsed?: ParsedRequest
  admission?: Admission
  pod?: Pod
  user?: string
  /** When the request was sent to the pod, and when its first body byte came back. */
  sentAt?: number
  firstByteAt?: number
  /** Ends the request's "waiting for its first token" state. */
  firstByte?: () => void
  /** Requests of this gateway already waiting for a first token on the pod when this one was sent. */
  queuedAhead?: number
  /** Set once the model is known to exist (keeps metric labels bounded). */
  model?: string
  /** Raised when the client goes away. */
  abort: AbortFlag
  finished: boolean
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name]
  return typeof v === 'string' && v.trim() !== '' ? v : undefined
}

/** Failures that happened talking to the pod (flagged x-error-streaming for stream requests). */
const UPSTREAM_KINDS = new Set(['upstream_timeout', 'upstream_unreachable', 'upstream_unmarshal'])

/** Metric label of a strategy: mixes are client-defined strings, so they share one label. */
const strategyLabel = (s: Strategy | undefined) => (!s ? '' : /[:,]/.test(s.name) ? 'mix' : s.name)

const sseErrorEvent = (message: string, code: string): Buffer =>
  Buffer.from(`data: ${JSON.stringify(errorBody(502, message, code))}\n\n`)

/** identify → parse → admit → route → forward/relay → settle, for the three inference endpoints. */
export class InferencePipeline {
  private active = 0
  private readonly idleWaiters: (() => void)[] = []
  private readonly stats: PodStats

  constructor(private readonly deps: PipelineDeps) {
    this.stats = podStats({ load: deps.load, fleetInflight: deps.fleetInflight, metrics: (p) => deps.scraper.get(p), perf: (p) => deps.perf.get(p) })
  }

  /** Resolves once no request is in flight (for graceful shutdown). */
  idle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  async handle(endpoint: Endpoint, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const flight: Flight = { requestId: requestIdFrom(req.headers['x-request-id']), endpoint, started: performance.now(), abort: new AbortFlag(), finished: false }
    this.active++
    reply.header('request-id', flight.requestId)
    reply.header('x-went-into-req-headers', 'true')
    // 'close' comes once the last byte is handed to the socket, or when the client went away.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) flight.abort.abort()
      if (--this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve()
    })
    try {
      await this.admitAndForward(flight, req, reply)
    } catch (err) {
      this.fail(flight, reply, err)
    }
  }

  private async admitAndForward(flight: Flight, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { deps } = this
    const identity = deps.auth.identify(req.headers)
    flight.user = identity.user
    flight.strategy = deps.strategies.resolve(header(req, 'routing-strategy') ?? deps.config.routing.defaultStrategy)
    reply.header('routing-strategy', flight.strategy.name)
    const parsed = parseRequest(flight.endpoint, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))
    flight.parsed = parsed
    const resolution = deps.registry.resolve(parsed.model)
    if (!resolution.known) throw new GatewayError('model_not_found', parsed.model, { param: 'model' })
    flight.model = parsed.model
    if (resolution.pods.length === 0) throw new GatewayError('no_backends', parsed.model, { headers: { 'retry-after': '1' } })
    if (!deps.modelRps.tryAcquire(parsed.model)) throw new GatewayError('model_rps_exceeded', parsed.model, { headers: { 'retry-after': '1' } })
    if (identity.user !== undefined) {
      flight.admission = await deps.limiter.admit(identity.user, flight.requestId + ':' + flight.started, deps.limiter.reserveFor(parsed.raw.length, parsed.maxTokens))
      reply.headers(flight.admission.headers)
    }
    try {
      await this.forward(flight, req, reply, identity.user, resolution.pods)
    } catch (err) {
      // The request never produced a response: nothing was used.
      if (flight.admission) await flight.admission.settle(0)
      throw err
    }
  }

  /** The prompt's token ids from the least busy pod (one tokenizer per model), or undefined. */
  private async tokenize(parsed: ParsedRequest, pods: readonly Pod[]): Promise<number[] | undefined> {
    const pod = pods.reduce((a, b) => (this.stats.inflight(b) < this.stats.inflight(a) ? b : a))
    const tokens = await fetchTokens(this.deps.pools, pod, parsed.body, this.deps.config.routing.prefixCache.tokenizeTimeoutMs)
    this.deps.metrics.tokenizeCalls.inc({ outcome: tokens ? 'ok' : 'failed' })
    return tokens
  }

  /** Picks a pod and sends the request; on connect failures tries other pods. */
  private async forward(flight: Flight, req: FastifyRequest, reply: FastifyReply, user: string | undefined, routable: Pod[]): Promise<void> {
    const { deps } = this
    const parsed = flight.parsed as ParsedRequest
    const strategy = flight.strategy as Strategy
    const { body, injectedUsage } = upstreamBody(parsed)
    const headers = upstreamRequestHeaders(req.headers, { requestId: flight.requestId, upstreamApiKey: deps.config.auth.upstreamApiKey })
    const timeouts = parsed.stream
      ? { headersTimeout: deps.config.server.streamIdleTimeoutMs, bodyTimeout: deps.config.server.streamIdleTimeoutMs }
      : { headersTimeout: deps.config.server.requestTimeoutMs, bodyTimeout: deps.config.server.requestTimeoutMs }
    const tried = new Set<string>()
    const retries = deps.config.server.connectRetries
    const request = routingRequest(parsed, req.headers, user)
    if (strategy.wantsTokens) request.tokens = await this.tokenize(parsed, routable)
    for (let attempt = 0; ; attempt++) {
      // retries look again: the failed pod may just have been ejected, others may have arrived
      const all = attempt === 0 ? routable : deps.registry.resolve(parsed.model).pods
      if (all.length === 0) throw new GatewayError('no_backends', parsed.model, { headers: { 'retry-after': '1' } })
      const untried = all.filter((p) => !tried.has(p.id))
      const pods = loraCandidates(parsed.model, untried.length > 0 ? untried : all, this.stats)
      const decision = strategy.pick({ request, pods, stats: this.stats, random: deps.random })
      if (!decision) throw new GatewayError('routing_failed', strategy.name)
      const pod = decision.pod
      flight.pod = pod
      reply.header('target-pod', pod.name)
      reply.header('target-pod-ip', pod.address)
      if (decision.headers) reply.headers(decision.headers)
      if (deps.config.routing.explain) reply.header('x-routing-reason', `${decision.reason}; pod=${pod.name}`)
      deps.metrics.decisions.inc({ strategy: strategyLabel(strategy), pod: pod.name })
      if (decision.prefixMatch !== undefined) deps.metrics.prefixMatch.observe({ strategy: strategyLabel(strategy) }, decision.prefixMatch)
      flight.queuedAhead = deps.load.prefilling.get(pod.address)
      const ticket = deps.load.start(pod.address, request.promptTokens + request.outputTokens, decision.prefillTokens ?? request.promptTokens)
      flight.firstByte = ticket.firstByte
      const release = ticket.release
      const sentAt = performance.now()
      flight.sentAt = sentAt
      let response: Dispatcher.ResponseData
      try {
        response = await deps.pools.request(pod.address, {
          method: 'POST',
          path: endpointPaths[flight.endpoint],
          headers,
          body,
          signal: flight.abort,
          ...timeouts
        })
      } catch (err) {
        release()
        if (flight.abort.aborted || isAbort(err)) throw err
        deps.metrics.upstreamErrors.inc({ pod: pod.name, kind: isConnectFailure(err) ? 'connect' : 'timeout' })
        if (isConnectFailure(err)) {
          deps.registry.reportFailure(pod.address)
          tried.add(pod.id)
          if (attempt < retries) continue
        }
        throw upstreamFailure(err, pod.name)
      }
      deps.registry.reportSuccess(pod.address)
      deps.metrics.ttft.observe({ pod: pod.name }, (performance.now() - sentAt) / 1000)
      const isSse = response.statusCode === 200 && String(response.headers['content-type'] ?? '').includes('text/event-stream')
      if (isSse) {
        this.relay(flight, reply, response, injectedUsage, release)
        return
      }
      try {
        await this.respondBuffered(flight, reply, response)
      } finally {
        release()
      }
      return
    }
  }

  /** Non-streaming answers (and upstream errors): read whole, check, count usage, send. */
  private async respondBuffered(flight: Flight, reply: FastifyReply, response: Dispatcher.ResponseData): Promise<void> {
    let raw: Buffer
    try {
      raw = Buffer.from(await response.body.arrayBuffer())
    } catch (err) {
      if (flight.abort.aborted || isAbort(err)) throw err
      throw upstreamFailure(err, flight.pod?.name ?? '?')
    }
    const status = response.statusCode
    if (status < 200 || status >= 300) {
      await flight.admission?.settle(0)
      reply.code(status).headers({ 'x-error-response-unknown': 'true', ...this.streamingFlag(flight) }).send(normaliseUpstreamError(status, raw))
      this.done(flight, status)
      return
    }
    let json: { usage?: { total_tokens?: unknown; prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: unknown } }
    try {
      json = JSON.parse(raw.toString('utf8'))
    } catch {
      throw new GatewayError('upstream_unmarshal')
    }
    const used = typeof json?.usage?.total_tokens === 'number' ? json.usage.total_tokens : undefined
    if (used !== undefined) this.deps.metrics.tokens.inc({ kind: 'total' }, used)
    this.completed(flight, json?.usage)
    if (flight.admission) reply.headers(await flight.admission.settle(used ?? 0))
    reply.code(status).headers(clientResponseHeaders(response.headers)).send(raw)
    this.done(flight, status)
  }

  /** Streams: bytes go out as they arrive, with backpressure; usage is read on the way. */
  private relay(flight: Flight, reply: FastifyReply, response: Dispatcher.ResponseData, injectedUsage: boolean, release: () => void): void {
    const out = new PassThrough()
    out.on('error', () => undefined) // the client went away; the abort signal stops the relay
    const sseRelay = new SseRelay(injectedUsage)
    const signal = flight.abort
    // Resolves when the client can take more bytes, or is gone.
    const drained = () =>
      new Promise<void>((resolve) => {
        if (out.destroyed || signal.aborted) return resolve()
        const go = () => {
          out.off('drain', go)
          out.off('close', go)
          signal.off('abort', go)
          resolve()
        }
        out.on('drain', go)
        out.on('close', go)
        signal.on('abort', go)
      })
    reply.code(200).headers(clientResponseHeaders(response.headers)).send(out)
    const write = async (chunks: Buffer[]) => {
      for (const c of chunks) {
        if (out.destroyed) return
        if (!out.write(c)) await drained()
      }
    }
    void (async () => {
      let failed = false
      try {
        for await (const chunk of response.body) {
          if (flight.firstByteAt === undefined) {
            flight.firstByteAt = performance.now()
            flight.firstByte?.()
          }
          await write(sseRelay.push(chunk as Buffer))
        }
        await write(sseRelay.end())
      } catch (err) {
        failed = true
        if (!signal.aborted && !isAbort(err)) {
          const e = upstreamFailure(err, flight.pod?.name ?? '?')
          const message = `The stream from pod ${flight.pod?.name} ended abnormally (${e.code === 'timeout' ? 'idle timeout' : (err as { code?: string }).code ?? 'connection lost'}).`
          this.deps.logger.warn({ requestId: flight.requestId, pod: flight.pod?.name, err: e.message }, 'stream from pod failed')
          await write([...sseRelay.end(), sseErrorEvent(message, e.code ?? 'upstream_error')]).catch(() => undefined)
        }
      } finally {
        release()
        if (!out.destroyed) out.end()
        if (signal.aborted) response.body.destroy()
        const used = sseRelay.usage?.total_tokens
        if (used !== undefined) this.deps.metrics.tokens.inc({ kind: 'total' }, used)
        if (!failed) this.completed(flight, sseRelay.usage)
        // A cut stream without usage keeps its reservation (undefined); a clean one settles what it used.
        await flight.admission?.settle(used ?? (failed ? undefined : 0))
        this.done(flight, signal.aborted ? 499 : 200)
      }
    })().catch((err: unknown) => {
      // the relay runs detached from the handler: a bug in it must be logged, never crash the process
      this.deps.logger.error({ err, requestId: flight.requestId }, 'stream relay failed')
    })
  }

  /** Feeds what a finished request taught us back to speed estimates and stateful strategies. */
  private completed(flight: Flight, usage: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: unknown } | undefined): void {
    const pod = flight.pod
    if (!pod || flight.sentAt === undefined) return
    const promptTokens = typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0
    const completionTokens = typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : 0
    const now = performance.now()
    const details = usage?.prompt_tokens_details as { cached_tokens?: unknown } | null | undefined
    this.deps.perf.observe(pod, {
      promptTokens,
      cachedTokens: typeof details?.cached_tokens === 'number' ? details.cached_tokens : undefined,
      completionTokens,
      e2eMs: now - flight.sentAt,
      ttftMs: flight.firstByteAt !== undefined ? flight.firstByteAt - flight.sentAt : undefined,
      queuedAhead: flight.queuedAhead
    })
    flight.strategy?.completed?.({ pod, user: flight.user, promptTokens, completionTokens })
  }

  private streamingFlag(flight: Flight): Record<string, string> {
    return flight.parsed?.stream ? { 'x-error-streaming': 'true' } : {}
  }

  private fail(flight: Flight, reply: FastifyReply, err: unknown): void {
    if (reply.sent || reply.raw.headersSent || flight.abort.aborted) {
      this.done(flight, 499)
      return
    }
    const gwErr = err instanceof GatewayError ? err : new GatewayError('internal', (err as Error)?.message ?? String(err))
    if (gwErr.kind === 'internal') this.deps.logger.error({ err, requestId: flight.requestId }, 'unexpected error')
    if (gwErr.kind === 'model_rps_exceeded') this.deps.metrics.rateLimited.inc({ reason: 'model_rps' })
    reply
      .code(gwErr.status)
      .headers({ ...gwErr.headers, ...(UPSTREAM_KINDS.has(gwErr.kind) ? this.streamingFlag(flight) : {}) })
      .send(gwErr.body())
    this.done(flight, gwErr.status)
  }

  private done(flight: Flight, status: number): void {
    if (flight.finished) return
    flight.finished = true
    const seconds = (performance.now() - flight.started) / 1000
    const stream = flight.parsed?.stream ? 'true' : 'false'
    this.deps.metrics.requests.inc({ model: flight.model ?? '', endpoint: flight.endpoint, status: String(status), strategy: strategyLabel(flight.strategy) })
    this.deps.metrics.duration.observe({ endpoint: flight.endpoint, stream }, seconds)
    this.deps.logger.debug({ requestId: flight.requestId, model: flight.parsed?.model, pod: flight.pod?.name, status, ms: Math.round(seconds * 1000) }, 'request')
  }
}
