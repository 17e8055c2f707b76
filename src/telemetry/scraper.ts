import { request } from 'undici'
import type { Pod } from '../discovery/pod.js'
import type { PodRegistry } from '../discovery/registry.js'
import type { Logger } from '../observability/logger.js'
import { BatchCaps } from './batch-cap.js'
import { fresh, parseVllmMetrics, type PodMetrics } from './pod-metrics.js'

export interface ScraperOptions {
  intervalMs: number
  timeoutMs: number
  concurrency: number
  /** Metrics older than this are ignored by routing (it falls back to in-flight counts). */
  staleAfterMs: number
  now?: () => number
}

/**
 * Scrapes every routable pod's /metrics on a jittered interval with bounded concurrency and a
 * timeout. The request path only reads the latest snapshot: it never waits for a scrape.
 */
export class MetricsScraper {
  private readonly latest = new Map<string, PodMetrics>()
  /** Batch caps learned from the scrapes (per metrics address). */
  readonly batchCaps = new BatchCaps()
  /** When each pod's vllm:generation_tokens_total last moved (hung-engine detection). */
  private readonly tokensMoved = new Map<string, number>()
  /** Generated tokens per second between the last two scrapes (status page). */
  private readonly tokenRates = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private readonly now: () => number
  private stopped = false

  constructor(
    private readonly registry: PodRegistry,
    private readonly opts: ScraperOptions,
    private readonly logger: Logger
  ) {
    this.now = opts.now ?? Date.now
  }

  /** Fresh metrics for a pod, or undefined when missing or stale. */
  get(pod: Pod): PodMetrics | undefined {
    return fresh(this.latest.get(pod.metricsAddress), this.now(), this.opts.staleAfterMs)
  }

  /** When the pod's generation-token counter was last seen to move, or undefined. */
  tokensMovedAt(metricsAddress: string): number | undefined {
    return this.tokensMoved.get(metricsAddress)
  }

  /** Generated tokens per second between the pod's last two scrapes, or undefined. */
  tokensPerSecond(metricsAddress: string): number | undefined {
    return this.tokenRates.get(metricsAddress)
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return
      void this.scrapeAll().finally(() => {
        if (this.stopped) return
        this.timer = setTimeout(tick, this.opts.intervalMs * (0.8 + Math.random() * 0.4))
        this.timer.unref()
      })
    }
    tick()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  async scrapeAll(): Promise<void> {
    const live = new Set(this.registry.all().filter((p) => p.ready).map((p) => p.metricsAddress))
    for (const addr of this.latest.keys()) {
      if (live.has(addr)) continue
      this.latest.delete(addr)
      this.tokensMoved.delete(addr)
      this.tokenRates.delete(addr)
      this.batchCaps.retain(live)
    }
    const targets = [...live]
    let next = 0
    const worker = async () => {
      while (next < targets.length) {
        const addr = targets[next++]
        try {
          // stamped when asked for: what the gateway routes while the answer is on its way is then
          // added by routing (PodStats.routedTokensSince) — at worst counted twice, never missed
          const at = this.now()
          const res = await request(`http://${addr}/metrics`, { headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs })
          const text = await res.body.text()
          if (res.statusCode !== 200) continue
          const m = parseVllmMetrics(text, at)
          const prev = this.latest.get(addr)
          if (m.generationTokens !== undefined && m.generationTokens !== prev?.generationTokens) this.tokensMoved.set(addr, at)
          if (m.generationTokens !== undefined && prev?.generationTokens !== undefined && at > prev.at) {
            this.tokenRates.set(addr, Math.max(0, m.generationTokens - prev.generationTokens) / ((at - prev.at) / 1000))
          }
          this.latest.set(addr, m)
          this.batchCaps.observe(addr, m)
        } catch (err) {
          this.logger.debug({ pod: addr, err: (err as Error).message }, 'metrics scrape failed')
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, targets.length) }, worker))
  }
}
