import { request } from 'undici'
import type { Logger } from '../observability/logger.js'
import type { PodRegistry } from './registry.js'

const CONCURRENCY = 8
const TIMEOUT_MS = 2000

interface ModelList {
  data?: { id?: unknown; parent?: unknown }[]
}

/**
 * Learns LoRA adapters from each routable pod's GET /v1/models (vLLM lists loaded adapters with
 * `parent` set), so adapters loaded without a ModelAdapter object route too.
 */
export class AdapterPoller {
  private timer: NodeJS.Timeout | undefined
  private readonly known = new Map<string, ReadonlySet<string>>()

  constructor(
    private readonly registry: PodRegistry,
    private readonly source: string,
    private readonly intervalSeconds: number,
    private readonly logger: Logger
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0) return
    const tick = () => {
      void this.pollOnce().finally(() => {
        this.timer = setTimeout(tick, this.intervalSeconds * 1000 * (0.9 + Math.random() * 0.2))
        this.timer.unref()
      })
    }
    tick()
  }

  stop(): void {
    clearTimeout(this.timer)
  }

  async pollOnce(): Promise<void> {
    const pods = this.registry.all().filter((p) => p.source === this.source && p.ready)
    const live = new Set(pods.map((p) => p.id))
    for (const id of this.known.keys()) if (!live.has(id)) this.known.delete(id)
    for (let i = 0; i < pods.length; i += CONCURRENCY) {
      await Promise.all(
        pods.slice(i, i + CONCURRENCY).map(async (pod) => {
          try {
            const res = await request(`http://${pod.address}/v1/models`, { headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
            const list = (await res.body.json()) as ModelList
            if (res.statusCode !== 200) return
            const adapters = new Set<string>()
            for (const m of list.data ?? []) if (typeof m.id === 'string' && typeof m.parent === 'string' && m.parent !== '') adapters.add(m.id)
            this.known.set(pod.id, adapters)
          } catch (err) {
            this.logger.debug({ pod: pod.name, err: (err as Error).message }, 'adapter poll failed')
          }
        })
      )
    }
    this.registry.setAdapterOverlay(`poll:${this.source}`, new Map(this.known))
  }
}
