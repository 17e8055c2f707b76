import type { FastifyInstance } from 'fastify'
import type { Config } from './config/schema.js'
import { PodRegistry } from './discovery/registry.js'
import { AdapterPoller } from './discovery/adapter-poller.js'
import { loadStaticDiscovery } from './discovery/static.js'
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
import { UpstreamSendTimes } from './proxy/send-times.js'
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
  /** Listens on config.server host/port; resolves the URL. */
  listen(): Promise<string>
  /**
   * Stops accepting, waits for in-flight requests and streams (up to shutdownGraceMs), frees
   * resources. Resolves how many streams were still open when the grace ran out (each ended with
   * one error event).
   */
  close(): Promise<{ streamsCut: number }>
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

  const strategies = new StrategyRegistry([...builtinStrategies(config.routing), ...(opts.strategies ?? [])])
  strategies.resolve(config.routing.defaultStrategy)
  const inflight = new InflightTracker()
  const perf = new PerfTracker()
  const t = config.telemetry
  const scraper = new MetricsScraper(registry, { intervalMs: t.scrapeIntervalMs, timeoutMs: t.scrapeTimeoutMs, concurrency: t.scrapeConcurrency, staleAfterMs: t.staleAfterMs }, logger)
  const pools = new UpstreamPools({ headersTimeout: config.server.requestTimeoutMs, bodyTimeout: config.server.requestTimeoutMs })
  const load = new PodLoad(inflight, t.staleAfterMs)
  const status = new StatusRecorder({ now: opts.clock })
  const sendTimes = new UpstreamSendTimes()
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
  const modelRps = new ModelRpsLimiter(
    new Map((config.discovery.static?.models ?? []).filter((m) => m.requestsPerSecond).map((m) => [m.name, m.requestsPerSecond as number])),
    opts.clock
  )
  const fleet = store instanceof RedisLimitStore && t.fleetSyncMs > 0 ? new FleetInflight(store.redis, inflight, t.fleetSyncMs, logger) : undefined
  const auth = new Authenticator(config.auth)
  const retryBudget = new RetryBudget(config.upstream.retry.budgetPercent)
  const pipeline = new InferencePipeline({ config, registry, strategies, load, fleetInflight: (a) => fleet?.get(a) ?? 0, perf, scraper, pools, limiter, modelRps, auth, metrics, logger, retryBudget, random: opts.random ?? Math.random, status, sendTimes })
  const drain = new ResponseDrain()
  const startedAt = Date.now()
  const snapshot = () =>
    statusSnapshot({
      registry,
      scraper,
      perf,
      inflight,
      recorder: status,
      startedAt,
      config: () => ({ generation: 1, loadedAt: startedAt, source: opts.configSource ?? 'config', defaultStrategy: config.routing.defaultStrategy })
    })
  const app = buildApp({ config, registry, pipeline, auth, limiter, metrics, logger, drain, status: snapshot })
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
    async listen() {
      await app.listen({ host: config.server.host, port: config.server.port })
      // Discovery runs in the background: /readyz says when it has synced.
      void kubernetes?.start().then(() => adapterPoller?.start())
      if (t.scrapeIntervalMs > 0) scraper.start()
      fleet?.start()
      health.start()
      sendTimes.start()
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
        sendTimes.stop()
        adapterPoller?.stop()
        await fleet?.stop()
        scraper.stop()
        await kubernetes?.stop()
        await Promise.race([pools.close(), new Promise((r) => setTimeout(r, 100).unref())])
        await store.close()
        return { streamsCut }
      })()
      return closing
    }
  }
}
