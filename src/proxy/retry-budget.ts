/**
 * Envoy-style retry budget: retries may be at most `percent` of the requests seen over the last
 * `windowMs`, with a floor of `minRetries` so a quiet gateway can still fail over. Counts are kept
 * in one-second buckets: O(1) per request.
 */
export class RetryBudget {
  private readonly buckets: { second: number; requests: number; retries: number }[]

  constructor(
    private percent: number,
    private readonly windowSeconds = 10,
    private readonly minRetries = 3,
    private readonly now: () => number = Date.now
  ) {
    this.buckets = Array.from({ length: windowSeconds }, () => ({ second: -1, requests: 0, retries: 0 }))
  }

  setPercent(percent: number): void {
    this.percent = percent
  }

  private bucket(): { second: number; requests: number; retries: number } {
    const second = Math.floor(this.now() / 1000)
    const b = this.buckets[second % this.windowSeconds]
    if (b.second !== second) {
      b.second = second
      b.requests = 0
      b.retries = 0
    }
    return b
  }

  private totals(): { requests: number; retries: number } {
    const oldest = Math.floor(this.now() / 1000) - this.windowSeconds
    let requests = 0
    let retries = 0
    for (const b of this.buckets) {
      if (b.second <= oldest) continue
      requests += b.requests
      retries += b.retries
    }
    return { requests, retries }
  }

  request(): void {
    this.bucket().requests++
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    const { requests, retries } = this.totals()
    if (retries + 1 > Math.max(this.minRetries, (requests * this.percent) / 100)) return false
    this.bucket().retries++
    return true
  }
}
