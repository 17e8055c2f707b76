import { SharedRoutingState } from './sharing/shared-routing.js'
import { RedisRoutingTransport } from './sharing/transport.js'
import { ResponsePins } from './routing/response-pins.js'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config/schema.js'
import { PodRegistry } from './discovery/registry.js'
import { AdapterPoller } from './discovery/adapter-poller.js'
import { loadStaticDiscovery, reloadStaticDiscovery } from './discovery/static.js'
import { planReload } from './config/reload.js'
import { Limiter } from './limits/limiter.js'
import { MemoryLimitStore } from './limits/memory-store.js'
import { ModelRpsLimiter } from './limits/model-rps.js'
import { RedisLimitStore } from './limits/redis-store.js'
import type { LimitStore } from './limits/types.js'
import type { Logger } from './observability/logger.js'
import { GatewayMetrics } from './observability/metrics.js'
import { InferencePipeline } from './pipeline/pipeline.js'
import { PodHealthLoop } from './discovery/pod-health.js'
import { RetryBudget } from './proxy/retry-budget.js'
import { ResponseDrain } from './server/drain.js'
import { Authenticator } from './pipeline/identify.js'
import { UpstreamPools } from './proxy/pools.js'
import { builtinStrategies, StrategyRegistry } from './routing/registry.js'
import type { Strategy } from './routing/strategy.js'
import { buildApp } from './server/app.js'
import { FleetInflight } from './telemetry/fleet-inflight.js'
import { InflightTracker } from './telemetry/inflight.js'
import { PerfTracker } from './telemetry/perf.js'
import { MetricsScraper } from './telemetry/scraper.js'
import { PodLoad } from './telemetry/pod-load.js'
import { StatusRecorder } from './observability/status.js'
import { Tracing } from './observability/tracing.js'
import { statusSnapshot } from './observability/status-snapshot.js'

export interface GatewayOptions {
  logger: Logger
  /** Injected for tests that control time. */
  clock?: () => number
  random?: () => number
  defaultMetrics?: boolean
  /** Strategies besides the built-in ones (plugins, tests). */
  strategies?: readonly Strategy[]
  /** Where the config came from (a file path, "demo"), shown on the status page. */
  configSource?: string
}

export interface Gateway {
  app: FastifyInstance
  registry: PodRegistry
  inflight: InflightTracker
  limiter: Limiter
  /** The config generation in use (1 at start, +1 per applied reload). */
  readonly generation: number
  /**
   * Applies a new, already validated config to the next requests: routing, limits, users, API
   * keys, static pods, retries and timeouts. Streams in progress are not touched. Restart-only
   * settings keep their old values and are listed in `restartNeeded`.
   */
  reload(next: Config): ReloadResult
  /** Counts a reload that failed validation (the reloader logs it); the config stays as it is. */
  reloadRejected(): void
  /** Listens on config.server host/port; resolves the URL. */
  listen(): Promise<string>
  /**
   * Stops accepting, waits for in-flight requests and streams (up to shutdownGraceMs), frees
   * resources. Resolves how many streams were still open when the grace ran out (each ended with
   * one error event).
   */
  close(): Promise<{ streamsCut: number }>
}

export interface ReloadResult {
  generation: number
  changed: string[]
  restartNeeded: string[]
}

function createStore(config: Config, logger: Logger): { store: LimitStore; ready: Promise<void> } {
  if (config.rateLimit.store === 'memory') return { store: new MemoryLimitStore(), ready: Promise.resolve() }
  const store = new RedisLimitStore({ url: config.rateLimit.redis.url, commandTimeoutMs: config.rateLimit.redis.commandTimeoutMs })
  const ready = store.connect().then((ok) => {
    if (!ok) logger.warn(`redis at ${config.rateLimit.redis.url} is not answering; rate limits fail ${config.rateLimit.onStoreError} until it does`)
  })
  return { store, ready }
}

/** Wires every part of the gateway from a validated config. */
export async function createGateway(config: Config, opts: GatewayOptions): Promise<Gateway> {
  const { logger } = opts
  const registry = new PodRegistry({ now: opts.clock, outlier: config.upstream.outlier })
  if (config.discovery.static) loadStaticDiscovery(registry, config.discovery.static.models)

  const inflight = new InflightTracker()
  const perf = new PerfTracker()
  const t = config.telemetry
  const scraper = new MetricsScraper(registry, { intervalMs: t.scrapeIntervalMs, timeoutMs: t.scrapeTimeoutMs, concurrency: t.scrapeConcurrency, staleAfterMs: t.staleAfterMs }, logger)
  const pools = new UpstreamPools({ headersTimeout: config.server.requestTimeoutMs, bodyTimeout: config.server.requestTimeoutMs })
  const load = new PodLoad(inflight, t.staleAfterMs)
  const status = new StatusRecorder({ now: opts.clock })
  registry.onChange(() => {
    const addresses = new Set(registry.all().map((p) => p.address))
    pools.retain(addresses)
    load.retain(addresses)
    registry.outlier.retain(addresses)
    status.retain(new Set(registry.all().map((p) => p.name)))
  })
  const metrics = new GatewayMetrics(registry, inflight, { defaultMetrics: opts.defaultMetrics })
  const k8sConfig = config.discovery.kubernetes
  // client-node is large: load it only when Kubernetes discovery is configured
  const kubernetes =
    k8sConfig &&
    new (await import('./discovery/kubernetes/source.js')).KubernetesDiscovery(registry, k8sConfig, logger, {
      watchRestart: (resource) => metrics.watchRestarts.inc({ resource })
    })
  const adapterPoller = k8sConfig && new AdapterPoller(registry, 'kubernetes', k8sConfig.adapterPollSeconds, logger)
  const { store, ready } = createStore(config, logger)
  await ready
  const limiter = new Limiter(store, config.rateLimit, logger, {
    rejected: (reason) => metrics.rateLimited.inc({ reason }),
    storeError: (op) => metrics.storeErrors.inc({ op })
  }, opts.clock)
  const modelRpsLimits = (c: Config) => new Map((c.discovery.static?.models ?? []).filter((m) => m.requestsPerSecond).map((m) => [m.name, m.requestsPerSecond as number]))
  const modelRps = new ModelRpsLimiter(modelRpsLimits(config), opts.clock)
  const fleet = store instanceof RedisLimitStore && t.fleetSyncMs > 0 ? new FleetInflight(store.redis, inflight, t.fleetSyncMs, logger) : undefined
  const pins = new ResponsePins()
  // replicas sharing Redis share what they learn about the pods' prefixes and conversations
  const shared =
    store instanceof RedisLimitStore && config.routing.share.enabled
      ? new SharedRoutingState(
          config.routing.share,
          new RedisRoutingTransport(store.redis, config.routing.share.channel, logger, () => metrics.sharedRecords.inc({ direction: 'dropped' })),
          (ms, fn) => setTimeout(fn, ms).unref(),
          pins,
          (direction, n) => metrics.sharedRecords.inc({ direction }, n)
        )
      : undefined
  const buildStrategies = (routing: Config['routing']) => {
    const s = new StrategyRegistry([...builtinStrategies(routing, shared), ...(opts.strategies ?? [])])
    s.resolve(routing.defaultStrategy) // an unknown default is a config error, at start and on reload
    return s
  }
  let strategies = buildStrategies(config.routing)
  const auth = new Authenticator(config.auth)
  const retryBudget = new RetryBudget(config.upstream.retry.budgetPercent)
  const tracing = config.tracing && new Tracing(config.tracing)
  const pipeline = new InferencePipeline({ config, registry, strategies, load, fleetInflight: (a) => fleet?.get(a) ?? 0, perf, scraper, pools, limiter, modelRps, auth, metrics, logger, retryBudget, random: opts.random ?? Math.random, status, tracing, pins })
  const drain = new ResponseDrain()
  const startedAt = Date.now()
  const live = { config, generation: 1, loadedAt: startedAt, source: opts.configSource ?? 'config' }
  const snapshot = () =>
    statusSnapshot({
      registry,
      scraper,
      perf,
      inflight,
      recorder: status,
      startedAt,
      admission: pipeline.admission && (() => pipeline.admission!.depth()),
      config: () => ({ generation: live.generation, loadedAt: live.loadedAt, source: live.source, defaultStrategy: live.config.routing.defaultStrategy })
    })
  const app = buildApp({ config, registry, pipeline, auth, limiter, metrics, logger, drain, status: snapshot, configGeneration: () => live.generation })
  const health = new PodHealthLoop(registry, pools, inflight, metrics, logger, {
    intervalMs: 250,
    probeTimeoutMs: 1000,
    tokensMovedAt: (address) => {
      const pod = registry.all().find((p) => p.address === address)
      return pod && scraper.tokensMovedAt(pod.metricsAddress)
    }
  })

  let closing: Promise<{ streamsCut: number }> | undefined
  return {
    app,
    registry,
    inflight,
    limiter,
    get generation() {
      return live.generation
    },
    reload(next) {
      const plan = planReload(live.config, next)
      const c = plan.config
      // build everything that can fail first: a reload applies whole or not at all
      const nextStrategies = plan.changed.includes('routing') ? buildStrategies(c.routing) : strategies
      auth.reconfigure(c.auth)
      limiter.reconfigure(c.rateLimit)
      modelRps.setLimits(modelRpsLimits(c))
      retryBudget.setPercent(c.upstream.retry.budgetPercent)
      if (plan.changed.includes('discovery')) reloadStaticDiscovery(registry, live.config.discovery.static?.models ?? [], c.discovery.static?.models ?? [])
      strategies = nextStrategies
      pipeline.reconfigure({ config: c, strategies })
      live.config = c
      live.generation++
      live.loadedAt = Date.now()
      metrics.configGeneration.set(live.generation)
      metrics.configReloads.inc({ outcome: 'applied' })
      return { generation: live.generation, changed: plan.changed, restartNeeded: plan.restartNeeded }
    },
    reloadRejected() {
      metrics.configReloads.inc({ outcome: 'rejected' })
    },
    async listen() {
      await app.listen({ host: config.server.host, port: config.server.port })
      // Discovery runs in the background: /readyz says when it has synced.
      void kubernetes?.start().then(() => adapterPoller?.start())
      if (t.scrapeIntervalMs > 0) scraper.start()
      fleet?.start()
      health.start()
      const addr = app.server.address()
      const port = typeof addr === 'object' && addr ? addr.port : config.server.port
      const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host
      return `http://${host}:${port}`
    },
    close() {
      closing ??= (async () => {
        const grace = new Promise<void>((resolve) => setTimeout(resolve, config.server.shutdownGraceMs).unref())
        const closed = app.close() // stops accepting; closes idle keep-alive connections
        await Promise.race([drain.idle(), grace])
        // the grace ran out: streams still open end with one error event, given a moment to flush
        const streamsCut = pipeline.cutStreams()
        if (streamsCut > 0) {
          logger.warn({ streamsCut }, 'shutdown grace ran out: open streams were ended with an error event')
          await Promise.race([drain.idle(), new Promise((r) => setTimeout(r, 500).unref())])
        }
        // Every request has finished (or was cut): drop connections still held open.
        app.server.closeAllConnections()
        await closed
        health.stop()
        adapterPoller?.stop()
        await fleet?.stop()
        await shared?.close()
        scraper.stop()
        await kubernetes?.stop()
        await Promise.race([pools.close(), new Promise((r) => setTimeout(r, 100).unref())])
        await store.close()
        await tracing?.shutdown()
        return { streamsCut }
      })()
      return closing
    }
  }
}
