import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from '../observability/logger.js'
import type { InflightTracker } from './inflight.js'

const REPLICAS = 'brixgate:inflight:replicas'
const replicaKey = (id: string) => `brixgate:inflight:{${id}}`

/**
 * In-flight counts of the other gateway replicas, shared through Redis off the request path:
 * every interval each replica publishes its own exact counts and reads everybody else's, so
 * load-aware strategies see the fleet's load (at most one interval old) without a Redis call
 * per request. Replicas that stop publishing drop out after three intervals.
 */
export class FleetInflight {
  private remote = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  readonly replicaId = randomUUID()

  constructor(
    private readonly redis: Redis,
    private readonly local: InflightTracker,
    private readonly intervalMs: number,
    private readonly logger: Logger
  ) {}

  /** Requests the other replicas have open on a pod address. */
  get(address: string): number {
    return this.remote.get(address) ?? 0
  }

  start(): void {
    const tick = () => {
      void this.sync().finally(() => {
        this.timer = setTimeout(tick, this.intervalMs)
        this.timer.unref()
      })
    }
    tick()
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer)
    await Promise.all([this.redis.del(replicaKey(this.replicaId)), this.redis.zrem(REPLICAS, this.replicaId)]).catch(() => undefined)
  }

  async sync(): Promise<void> {
    const now = Date.now()
    const mine = replicaKey(this.replicaId)
    try {
      const counts = [...this.local.snapshot()].flat().map(String)
      const tx = this.redis.multi().del(mine)
      if (counts.length > 0) tx.hset(mine, ...counts)
      await tx
        .pexpire(mine, this.intervalMs * 3)
        .zadd(REPLICAS, now, this.replicaId)
        .zremrangebyscore(REPLICAS, '-inf', now - this.intervalMs * 3)
        .exec()
      const others = (await this.redis.zrange(REPLICAS, 0, -1)).filter((id) => id !== this.replicaId)
      const next = new Map<string, number>()
      const all = await Promise.all(others.map((id) => this.redis.hgetall(replicaKey(id))))
      for (const h of all) for (const [addr, n] of Object.entries(h)) next.set(addr, (next.get(addr) ?? 0) + Number(n))
      this.remote = next
    } catch (err) {
      // stale is fine: strategies then see local counts plus the last known remote ones
      this.logger.debug({ err: (err as Error).message }, 'fleet in-flight sync failed')
    }
  }
}
