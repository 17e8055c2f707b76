/**
 * What the status page shows that no other part keeps: the last routing decisions, a few minutes
 * of per-pod request counts and TTFT, and each user's last known limit window. Bounded memory:
 * a ring of decisions, a fixed number of time buckets per pod, users seen in the last window only.
 */

export interface DecisionRecord {
  /** Epoch ms when the request finished. */
  at: number
  requestId: string
  model: string
  user?: string
  strategy: string
  pod?: string
  reason?: string
  status: number
  stream: boolean
  retries: number
  tokens?: number
  ms: number
  /** The pod's time to first byte (ms), when it answered. */
  ttftMs?: number
}

export interface UserWindowRecord {
  requests: number
  rpm: number
  tokens: number
  tpm: number
  /** Epoch ms of the last update. */
  at: number
}

export interface SeriesPoint {
  /** Bucket start, epoch ms. */
  t: number
  requests: number
  /** Mean TTFT of the bucket's requests that had one (ms), or null. */
  ttftMs: number | null
}

interface Bucket {
  t: number
  requests: number
  ttftSum: number
  ttftCount: number
}

export interface StatusRecorderOptions {
  decisions?: number
  bucketMs?: number
  buckets?: number
  now?: () => number
}

const USER_WINDOW_MS = 60_000
const MAX_USERS = 1000
const MAX_PODS = 1000

export class StatusRecorder {
  private readonly ring: (DecisionRecord | undefined)[]
  private next = 0
  private readonly bucketMs: number
  private readonly bucketCount: number
  private readonly series = new Map<string, Bucket[]>()
  private readonly users = new Map<string, UserWindowRecord>()
  readonly now: () => number

  constructor(opts: StatusRecorderOptions = {}) {
    this.ring = new Array(opts.decisions ?? 50)
    this.bucketMs = opts.bucketMs ?? 5000
    this.bucketCount = opts.buckets ?? 60
    this.now = opts.now ?? Date.now
  }

  /** One finished request. O(1). */
  record(d: DecisionRecord): void {
    this.ring[this.next] = d
    this.next = (this.next + 1) % this.ring.length
    if (d.pod !== undefined) this.addToSeries(d.pod, d.at, d.ttftMs)
  }

  user(name: string, w: Omit<UserWindowRecord, 'at'>): void {
    if (!this.users.has(name) && this.users.size >= MAX_USERS) this.sweepUsers()
    if (!this.users.has(name) && this.users.size >= MAX_USERS) return
    this.users.set(name, { ...w, at: this.now() })
  }

  /** The last decisions, newest first. */
  decisions(): DecisionRecord[] {
    const out: DecisionRecord[] = []
    for (let i = 1; i <= this.ring.length; i++) {
      const d = this.ring[(this.next - i + this.ring.length) % this.ring.length]
      if (d) out.push(d)
    }
    return out
  }

  /** Per pod, the last few minutes of buckets, oldest first, gaps filled with zeroes. */
  podSeries(): Record<string, SeriesPoint[]> {
    const end = this.bucketStart(this.now())
    const start = end - (this.bucketCount - 1) * this.bucketMs
    const out: Record<string, SeriesPoint[]> = {}
    for (const [pod, buckets] of this.series) {
      const byT = new Map(buckets.map((b) => [b.t, b]))
      const points: SeriesPoint[] = []
      for (let t = start; t <= end; t += this.bucketMs) {
        const b = byT.get(t)
        points.push({ t, requests: b?.requests ?? 0, ttftMs: b && b.ttftCount > 0 ? Math.round((b.ttftSum / b.ttftCount) * 10) / 10 : null })
      }
      if (points.some((p) => p.requests > 0)) out[pod] = points
    }
    return out
  }

  /** Users seen in the last minute with their last known window. */
  userWindows(): Record<string, UserWindowRecord> {
    this.sweepUsers()
    return Object.fromEntries([...this.users].sort(([a], [b]) => a.localeCompare(b)))
  }

  private sweepUsers(): void {
    const cutoff = this.now() - USER_WINDOW_MS
    for (const [name, w] of this.users) if (w.at < cutoff) this.users.delete(name)
  }

  private bucketStart(at: number): number {
    return at - (at % this.bucketMs)
  }

  private addToSeries(pod: string, at: number, ttftMs: number | undefined): void {
    let buckets = this.series.get(pod)
    if (!buckets) {
      if (this.series.size >= MAX_PODS) return
      buckets = []
      this.series.set(pod, buckets)
    }
    const t = this.bucketStart(at)
    let last = buckets[buckets.length - 1]
    if (!last || last.t !== t) {
      last = { t, requests: 0, ttftSum: 0, ttftCount: 0 }
      buckets.push(last)
      const oldest = t - (this.bucketCount - 1) * this.bucketMs
      while (buckets.length > 0 && buckets[0].t < oldest) buckets.shift()
    }
    last.requests++
    if (ttftMs !== undefined) {
      last.ttftSum += ttftMs
      last.ttftCount++
    }
  }

  /** Drops the series of pods no longer known. */
  retain(pods: ReadonlySet<string>): void {
    for (const name of this.series.keys()) if (!pods.has(name)) this.series.delete(name)
  }
}
