import { Pool, type Dispatcher } from 'undici'

/** One keep-alive connection pool per pod address. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>()

  constructor(private readonly options: Pool.Options = {}) {}

  get(address: string): Pool {
    let pool = this.pools.get(address)
    if (!pool) {
      pool = new Pool(`http://${address}`, { keepAliveTimeout: 4_000, ...this.options })
      this.pools.set(address, pool)
    }
    return pool
  }

  request(address: string, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    return this.get(address).request(opts)
  }

  /** Close pools of pods that are gone; requests already running on them finish first. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, pool] of this.pools) {
      if (addresses.has(address)) continue
      this.pools.delete(address)
      void pool.close().catch(() => undefined)
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(all.map((p) => p.close().catch(() => undefined)))
  }
}
