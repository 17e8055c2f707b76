import { request } from 'undici'
import type { Logger } from '../observability/logger.js'
import type { Pod } from './pod.js'
import type { PodRegistry } from './registry.js'

const CONCURRENCY = 8
const TIMEOUT_MS = 2000

interface ModelList {
  data?: { id?: unknown; parent?: unknown }[]
}

/**
 * Learns LoRA adapters from each routable pod's GET /v1/models (vLLM lists loaded adapters with
 * `parent` set), so adapters loaded without a ModelAdapter object route too. A pod is polled as
 * soon as it becomes routable, then periodically: an adapter only a new pod serves routes at once.
 */
export class AdapterPoller {
  private timer: NodeJS.Timeout | undefined
  private readonly known = new Map<string, ReadonlySet<string>>()
  /** Pods polled once since they became routable (or being polled now). */
  private readonly seen = new Set<string>()
  private unsubscribe: (() => void) | undefined

  constructor(
    private readonly registry: PodRegistry,
    private readonly source: string,
    private readonly intervalSeconds: number,
    private readonly logger: Logger
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0) return
    this.unsubscribe = this.registry.onChange(() => this.pollNewPods())
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
    this.unsubscribe?.()
  }

  private routable(): Pod[] {
    return this.registry.all().filter((p) => p.source === this.source && p.ready)
  }

  /** Pods that became routable since the last look get their first poll now. */
  private pollNewPods(): void {
    const routable = this.routable()
    const ids = new Set(routable.map((p) => p.id))
    // a pod that left rotation is polled again when it comes back
    for (const id of this.seen) if (!ids.has(id)) this.seen.delete(id)
    const fresh = routable.filter((p) => !this.seen.has(p.id))
    if (fresh.length === 0) return
    for (const p of fresh) this.seen.add(p.id)
    void this.poll(fresh)
  }

  async pollOnce(): Promise<void> {
    const pods = this.routable()
    const live = new Set(pods.map((p) => p.id))
    for (const id of this.known.keys()) if (!live.has(id)) this.known.delete(id)
    for (const id of this.seen) if (!live.has(id)) this.seen.delete(id)
    for (const p of pods) this.seen.add(p.id)
    await this.poll(pods)
  }

  private async poll(pods: readonly Pod[]): Promise<void> {
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
    // only when something changed: setting the overlay notifies the registry's listeners (this one too)
    const current = new Map(this.known)
    if (!sameOverlay(current, this.published)) {
      this.published = current
      this.registry.setAdapterOverlay(`poll:${this.source}`, current)
    }
  }

  private published = new Map<string, ReadonlySet<string>>()
}

function sameOverlay(a: ReadonlyMap<string, ReadonlySet<string>>, b: ReadonlyMap<string, ReadonlySet<string>>): boolean {
  if (a.size !== b.size) return false
  for (const [id, set] of a) {
    const other = b.get(id)
    if (!other || other.size !== set.size) return false
    for (const x of set) if (!other.has(x)) return false
  }
  return true
}
