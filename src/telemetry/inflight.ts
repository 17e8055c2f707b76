/**
 * Exact count of requests this gateway has open on each pod address (or of an amount per
 * request, such as the prompt tokens still to prefill).
 * acquire() returns a release function that is safe to call more than once,
 * so every exit path (success, upstream error, abort, timeout) can release without bookkeeping.
 */
export class InflightTracker {
  private readonly counts = new Map<string, number>()

  acquire(pod: string, amount = 1): () => void {
    this.add(pod, amount)
    let released = false
    return () => {
      if (released) return
      released = true
      this.remove(pod, amount)
    }
  }

  /** Counts `amount` more on the pod; the caller removes it exactly once (acquire() guards that for you). */
  add(pod: string, amount = 1): void {
    this.counts.set(pod, (this.counts.get(pod) ?? 0) + amount)
  }

  remove(pod: string, amount = 1): void {
    const n = (this.counts.get(pod) ?? amount) - amount
    if (n <= 0) this.counts.delete(pod)
    else this.counts.set(pod, n)
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
