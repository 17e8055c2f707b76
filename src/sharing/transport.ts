import type { Redis } from 'ioredis'
import type { Logger } from '../observability/logger.js'

/** Where replicas exchange routing-state batches: Redis pub/sub, or an in-process hub (virtual cluster). */
export interface RoutingTransport {
  /** Fire and forget: a batch that cannot go is dropped (the state is a hint, rebuilt by traffic). */
  publish(payload: string): void
  onMessage(fn: (payload: string) => void): void
  close(): Promise<void>
}

/**
 * Redis pub/sub: one PUBLISH per batch, a subscriber connection of its own. Nothing is kept in
 * Redis (no memory there to bound); a replica that was away misses batches and learns again from
 * traffic. The publishing connection has no offline queue: while Redis is gone batches are
 * dropped at once instead of piling up in this process.
 */
export class RedisRoutingTransport implements RoutingTransport {
  private readonly pub: Redis
  private readonly sub: Redis
  private handler: ((payload: string) => void) | undefined

  constructor(
    redis: Redis,
    private readonly channel: string,
    private readonly logger: Logger,
    private readonly onDrop: () => void
  ) {
    this.pub = redis.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: false })
    // the subscriber may queue its SUBSCRIBE until connected, and subscribes again after every reconnect
    this.sub = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false, autoResubscribe: true, commandTimeout: undefined })
    for (const c of [this.pub, this.sub]) c.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'shared routing state: redis error'))
    this.sub.on('message', (_channel: string, message: string) => this.handler?.(message))
    this.sub.subscribe(channel).catch((err: Error) => this.logger.warn({ err: err.message }, 'shared routing state: subscribe failed; routing on local state'))
  }

  publish(payload: string): void {
    this.pub.publish(this.channel, payload).catch(() => this.onDrop())
  }

  onMessage(fn: (payload: string) => void): void {
    this.handler = fn
  }

  async close(): Promise<void> {
    this.pub.disconnect()
    this.sub.disconnect()
  }
}

/** Replicas in one process (the virtual cluster): every batch reaches the others after `delayMs` of the given clock. */
export class MemoryRoutingHub {
  private readonly members = new Set<(payload: string) => void>()

  constructor(private readonly after: (ms: number, fn: () => void) => void, private readonly delayMs: number) {}

  transport(): RoutingTransport {
    let own: ((payload: string) => void) | undefined
    const deliver = (payload: string) => own?.(payload)
    this.members.add(deliver)
    return {
      publish: (payload) => {
        for (const m of this.members) if (m !== deliver) this.after(this.delayMs, () => m(payload))
      },
      onMessage: (fn) => (own = fn),
      close: async () => void this.members.delete(deliver)
    }
  }
}
