import type { Logger } from '../observability/logger.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import type { UpstreamPools } from '../proxy/pools.js'
import type { InflightTracker } from '../telemetry/inflight.js'
import type { PodRegistry } from './registry.js'

export interface PodHealthOptions {
  /** How often ejection ends and hung pods are checked. */
  intervalMs: number
  probeTimeoutMs: number
  /** When the pod's scraped generation-token counter last moved (undefined: unknown). */
  tokensMovedAt: (address: string) => number | undefined
}

/**
 * The active side of outlier detection: probes pods whose ejection time is over (GET /health;
 * traffic returns only after it answers 200) and ejects pods found hung. Off the request path.
 */
export class PodHealthLoop {
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly registry: PodRegistry,
    private readonly pools: UpstreamPools,
    private readonly inflight: InflightTracker,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly opts: PodHealthOptions
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  tick(): void {
    const { outlier } = this.registry
    for (const address of outlier.dueForProbe()) void this.probe(address)
    const addresses = [...new Set(this.registry.all().filter((p) => p.ready).map((p) => p.address))]
    for (const address of outlier.hung(addresses, (a) => this.inflight.get(a), this.opts.tokensMovedAt)) {
      if (!this.registry.ejectHung(address)) continue
      this.metrics.ejections.inc({ reason: 'hung' })
      this.logger.warn({ address, inflight: this.inflight.get(address) }, 'pod ejected: requests open but no output from it')
    }
  }

  private async probe(address: string): Promise<void> {
    let healthy = false
    try {
      const res = await this.pools.request(address, { method: 'GET', path: '/health', headersTimeout: this.opts.probeTimeoutMs, bodyTimeout: this.opts.probeTimeoutMs, signal: AbortSignal.timeout(this.opts.probeTimeoutMs) })
      await res.body.dump()
      healthy = res.statusCode === 200
    } catch {
      healthy = false
    }
    this.registry.outlier.probed(address, healthy)
    this.logger.info({ address, healthy }, healthy ? 'ejected pod answered its probe: back in rotation' : 'ejected pod failed its probe: ejected again')
  }
}
