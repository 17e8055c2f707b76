import type { AdmissionConfig, BandConfig } from '../config/schema.js'
import TinyQueue from 'tinyqueue'
import { GatewayError } from '../errors/catalogue.js'
import { performance } from 'node:perf_hooks'

/** Time for queue timeouts and re-checks: the wall clock, or the virtual cluster's. */
export interface AdmissionClock {
  now(): number
  /** Runs `fn` after `ms`; returns how to cancel it. */
  after(ms: number, fn: () => void): () => void
}

export const wallClock: AdmissionClock = {
  now: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms)
    return () => clearTimeout(timer)
  }
}

/** Something that goes away: the client's abort flag. */
export interface Abortable {
  readonly aborted: boolean
  once(event: 'abort', fn: () => void): unknown
  off(event: 'abort', fn: () => void): unknown
}

export interface AdmissionRequest {
  model: string
  /** Fair share is kept per user; requests without one share the anonymous user's. */
  user: string | undefined
  band: BandConfig
  /** Tokens the request is expected to use (prompt estimate + max output): charged when it goes. */
  tokens: number
  abort: Abortable
}

/**
 * Leave to send one request to a pod. `routed` once it holds a pod's load ticket (until then it
 * counts against the free slots); `finished` once, whatever way it ended, with the tokens it used.
 */
export interface Grant {
  readonly band: string
  /** Time spent waiting in the queue, ms (0 on the fast path). */
  readonly waitedMs: number
  routed(): void
  finished(tokensUsed: number | undefined): void
}

export interface AdmissionEvents {
  admitted(band: string, waitedMs: number, queued: boolean): void
  rejected(band: string, reason: 'full' | 'timeout' | 'shed'): void
}

interface Waiter {
  req: AdmissionRequest
  user: string
  enqueuedAt: number
  resolve(g: Grant): void
  reject(e: unknown): void
  cancelTimer(): void
  onAbort(): void
}

interface HeapEntry {
  count: number
  /** Push order: equal counters go first in, first out. */
  seq: number
  user: string
  version: number
}

/**
 * One band's waiters: FIFO per user, and the users by counter in a min-heap (O(log users) per
 * decision). A user's counter change pushes a new entry; older ones are stale and skipped when they
 * reach the top, and the heap is rebuilt when stale entries outnumber the users.
 */
class BandQueue {
  /** FIFO per user; users with waiters only. */
  readonly byUser = new Map<string, Waiter[]>()
  size = 0
  private heap = new TinyQueue<HeapEntry>([], (a, b) => a.count - b.count || a.seq - b.seq)
  private readonly versions = new Map<string, number>()
  private seq = 0

  constructor(readonly band: BandConfig) {}

  /** `user` (waiting here) has counter `count` now. */
  push(user: string, count: number): void {
    const version = (this.versions.get(user) ?? 0) + 1
    this.versions.set(user, version)
    this.heap.push({ count, seq: this.seq++, user, version })
    if (this.heap.length > 2 * this.byUser.size + 64) this.rebuild()
  }

  /** The waiting user with the lowest counter, and the counter. */
  top(): HeapEntry | undefined {
    for (let e = this.heap.peek(); e !== undefined; e = this.heap.peek()) {
      if (this.byUser.has(e.user) && this.versions.get(e.user) === e.version) return e
      this.heap.pop()
    }
    return undefined
  }

  /** Nobody waits here any more: forget the heap (versions restart with it). */
  emptied(): void {
    this.heap = new TinyQueue<HeapEntry>([], (a, b) => a.count - b.count || a.seq - b.seq)
    this.versions.clear()
  }

  private rebuild(): void {
    const live = this.heap.data.filter((e) => this.byUser.has(e.user) && this.versions.get(e.user) === e.version)
    this.heap = new TinyQueue<HeapEntry>(live, (a, b) => a.count - b.count || a.seq - b.seq)
  }
}

/** The queue of one model: its bands (highest priority first), users' virtual token counters, grants not yet routed. */
class ModelQueue {
  readonly bands: BandQueue[]
  /** Virtual token counters (VTC): tokens served per user while the queue is busy. */
  readonly counters = new Map<string, number>()
  size = 0
  handoffs = 0
  recheck: (() => void) | undefined

  constructor(bands: readonly BandConfig[]) {
    this.bands = [...bands].sort((a, b) => b.priority - a.priority).map((band) => new BandQueue(band))
  }

  bandQueue(name: string): BandQueue {
    return this.bands.find((b) => b.band.name === name) ?? this.bands[this.bands.length - 1]
  }

  counter(user: string): number {
    return this.counters.get(user) ?? 0
  }

  /** Sets a user's counter; the bands it waits in re-rank it. */
  setCounter(user: string, value: number): void {
    this.counters.set(user, value)
    for (const b of this.bands) if (b.byUser.has(user)) b.push(user, value)
  }

  /** Lowest counter among users with waiters (in any band), or undefined. */
  minBacklogged(): number | undefined {
    let min: number | undefined
    for (const b of this.bands) {
      const top = b.top()
      if (top && (min === undefined || top.count < min)) min = top.count
    }
    return min
  }
}

const ANONYMOUS = ''

/**
 * The admission queue (docs/admission.md). While a model's pods have free slots and nobody waits,
 * a request goes at once (one Map get and a sum over the pods). Otherwise it waits in its band
(O(log users) per decision):
 * higher bands go first; inside a band the user who has been served the fewest tokens goes next
 * (VTC, Sheng et al. 2024: a user's counter grows by the tokens it is served, and a user who starts
 * waiting is lifted to just below the lowest counter of those waiting, so idle time earns no credit). A band's
 * full queue refuses with 503; past its timeout a request gets 503; when all bands together are
 * full, a request of the lowest sheddable band below the newcomer's is dropped for it (the newest of
 * the user with the most waiting there).
 */
export class AdmissionQueue {
  private readonly queues = new Map<string, ModelQueue>()

  constructor(
    private readonly cfg: AdmissionConfig,
    /** Free request slots on the model's pods now, for a band that may fill `podShare` of each pod (freeSlots over its routable pods). */
    private readonly capacity: (model: string, podShare: number) => number,
    private readonly events: AdmissionEvents,
    private readonly clock: AdmissionClock = wallClock
  ) {}

  private queue(model: string): ModelQueue {
    let q = this.queues.get(model)
    if (!q) this.queues.set(model, (q = new ModelQueue(this.cfg.bands)))
    return q
  }

  /** A grant now (fast path), or a promise of one; rejects with a GatewayError (full, timeout, shed) or when the client leaves. */
  admit(req: AdmissionRequest): Grant | Promise<Grant> {
    const q = this.queue(req.model)
    if (q.size === 0 && this.capacity(req.model, req.band.podShare) - q.handoffs > 0) {
      this.events.admitted(req.band.name, 0, false)
      return this.grant(q, req, req.user ?? ANONYMOUS, 0)
    }
    return this.enqueue(q, req)
  }

  /** Capacity may have freed on the model's pods: hand it to the waiting requests in order. */
  poke(model: string): void {
    const q = this.queues.get(model)
    if (!q || q.size === 0) return
    // bands in priority order; a band that may fill less of each pod stops earlier, and lower bands still go while it waits
    for (const b of q.bands) {
      while (b.size > 0 && this.capacity(model, b.band.podShare) - q.handoffs > 0) {
        const w = this.next(b)
        this.take(q, w)
        const waited = this.clock.now() - w.enqueuedAt
        this.events.admitted(w.req.band.name, waited, true)
        w.resolve(this.grant(q, w.req, w.user, waited))
      }
    }
    this.scheduleRecheck(model, q)
  }

  /** Requests waiting for `model` in each band (metrics). */
  depth(): { model: string; band: string; waiting: number }[] {
    const out: { model: string; band: string; waiting: number }[] = []
    for (const [model, q] of this.queues) for (const b of q.bands) out.push({ model, band: b.band.name, waiting: b.size })
    return out
  }

  private grant(q: ModelQueue, req: AdmissionRequest, user: string, waitedMs: number): Grant {
    q.handoffs++
    let routed = false
    let finished = false
    q.setCounter(user, q.counter(user) + req.tokens)
    return {
      band: req.band.name,
      waitedMs,
      routed: () => {
        if (routed || finished) return
        routed = true
        q.handoffs--
      },
      finished: (used) => {
        if (finished) return
        finished = true
        if (!routed) q.handoffs--
        // the counter was charged the estimate; correct it to what was served
        if (used !== undefined && q.counters.has(user)) q.setCounter(user, q.counter(user) + used - req.tokens)
        // nobody waits: counters only matter among waiting users, so the map does not grow without bound
        if (q.size === 0 && q.handoffs === 0) q.counters.clear()
        this.poke(req.model)
      }
    }
  }

  private enqueue(q: ModelQueue, req: AdmissionRequest): Promise<Grant> {
    const bq = q.bandQueue(req.band.name)
    if (bq.size >= bq.band.maxQueue) {
      this.events.rejected(req.band.name, 'full')
      return Promise.reject(new GatewayError('queue_full', `${req.band.name} band of ${req.model} (${bq.band.maxQueue} waiting)`))
    }
    if (q.size >= this.cfg.maxQueue && !this.shed(q, bq.band)) {
      this.events.rejected(req.band.name, 'full')
      return Promise.reject(new GatewayError('queue_full', `${req.model} (${this.cfg.maxQueue} waiting in all bands)`))
    }
    return new Promise<Grant>((resolve, reject) => {
      const user = req.user ?? ANONYMOUS
      const w: Waiter = {
        req,
        user,
        enqueuedAt: this.clock.now(),
        resolve,
        reject,
        cancelTimer: this.clock.after(bq.band.queueTimeoutMs, () => {
          this.take(q, w)
          this.events.rejected(req.band.name, 'timeout')
          reject(new GatewayError('queue_timeout', `${req.band.name} band, ${bq.band.queueTimeoutMs} ms`))
        }),
        onAbort: () => {
          this.take(q, w)
          reject(new GatewayError('internal', 'client went away while queued'))
        }
      }
      const list = bq.byUser.get(user)
      if (list) list.push(w)
      else {
        // VTC's lift: a user who starts waiting starts from the lowest counter of those waiting
        // (just below it: a user who was not waiting goes before the ones always waiting, once)
        const min = q.minBacklogged()
        const waitsElsewhere = q.bands.some((b) => b.byUser.has(user))
        if (min !== undefined && !waitsElsewhere) q.counters.set(user, Math.max(q.counter(user), min - 1))
        bq.byUser.set(user, [w])
        bq.push(user, q.counter(user))
      }
      bq.size++
      q.size++
      req.abort.once('abort', w.onAbort)
      // capacity may have freed since the fast path looked (or only handoffs were in the way)
      this.poke(req.model)
    })
  }

  /** The next request of a band with waiters: its user with the lowest counter, that user's oldest. */
  private next(b: BandQueue): Waiter {
    return b.byUser.get(b.top()!.user)![0]
  }

  /** Takes a waiter out of the queue (it goes, timed out, was shed or its client left). */
  private take(q: ModelQueue, w: Waiter): void {
    const bq = q.bandQueue(w.req.band.name)
    const list = bq.byUser.get(w.user)
    const i = list?.indexOf(w) ?? -1
    if (!list || i === -1) return
    list.splice(i, 1)
    if (list.length === 0) bq.byUser.delete(w.user)
    bq.size--
    if (bq.size === 0) bq.emptied()
    q.size--
    w.cancelTimer()
    w.req.abort.off('abort', w.onAbort)
  }

  /** Drops the newest request of the user with the most waiting in the lowest sheddable band below `band` (O(users), only when full); false if there is none. */
  private shed(q: ModelQueue, band: BandConfig): boolean {
    for (let i = q.bands.length - 1; i >= 0; i--) {
      const b = q.bands[i]
      if (b.band.priority >= band.priority) return false
      if (!b.band.sheddable || b.size === 0) continue
      // the user with the most requests waiting there loses its newest (ties: the one served more, then the newest request)
      let victim: Waiter | undefined
      let rank: [number, number, number] = [-1, -Infinity, -Infinity]
      for (const [user, list] of b.byUser) {
        const newest = list[list.length - 1]
        const r: [number, number, number] = [list.length, q.counter(user), newest.enqueuedAt]
        if (r[0] > rank[0] || (r[0] === rank[0] && (r[1] > rank[1] || (r[1] === rank[1] && r[2] >= rank[2])))) {
          rank = r
          victim = newest
        }
      }
      const w = victim
      if (!w) continue
      this.take(q, w)
      this.events.rejected(b.band.name, 'shed')
      w.reject(new GatewayError('queue_shed', `${b.band.name} band of ${w.req.model}`))
      return true
    }
    return false
  }

  /** While requests wait, look again soon: other replicas' requests end and scraped queues drain without a poke here. */
  private scheduleRecheck(model: string, q: ModelQueue): void {
    if (q.size === 0 || q.recheck) return
    q.recheck = this.clock.after(this.cfg.recheckMs, () => {
      q.recheck = undefined
      this.poke(model)
    })
  }
}
