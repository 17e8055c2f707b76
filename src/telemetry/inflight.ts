/**
 * Exact count of requests this gateway has open on each pod address.
 * acquire() returns a release function that is safe to call more than once,
 * so every exit path (success, upstream error, abort, timeout) can release without bookkeeping.
 */
export class InflightTracker {
  private readonly counts = new Map<string, number>()

  acquire(pod: string): () => void {
    this.counts.set(pod, (this.counts.get(pod) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.counts.get(pod) ?? 1) - 1
      if (n <= 0) this.counts.delete(pod)
      else this.counts.set(pod, n)
    }
  }

  get(pod: string): number {
    return this.counts.get(pod) ?? 0
  }

  total(): number {
    let n = 0
    for (const v of this.counts.values()) n += v
    return n
  }

  snapshot(): ReadonlyMap<string, number> {
    return new Map(this.counts)
  }
}
