/**
 * Per-model requests-per-second (AIBrix `requestsPerSecond`): an exact 1 s sliding log,
 * kept per gateway replica.
 */
export class ModelRpsLimiter {
  private readonly logs = new Map<string, number[]>()

  constructor(private limits: ReadonlyMap<string, number>, private readonly clock: () => number = Date.now) {}

  /** New per-model limits (config reload); logs of models still limited are kept. */
  setLimits(limits: ReadonlyMap<string, number>): void {
    this.limits = limits
    for (const model of this.logs.keys()) if (!limits.has(model)) this.logs.delete(model)
  }

  /** True when the request may go; records it. */
  tryAcquire(model: string): boolean {
    const limit = this.limits.get(model)
    if (limit === undefined) return true
    const now = this.clock()
    let log = this.logs.get(model)
    if (!log) this.logs.set(model, (log = []))
    while (log.length > 0 && log[0] <= now - 1000) log.shift()
    if (log.length >= limit) return false
    log.push(now)
    return true
  }
}
