import { DispatchLog } from './dispatch-log.js'
import { InflightTracker } from './inflight.js'

/** How far back `recentComputedTokens` looks: about the time a busy pod takes to refill its cache. */
const COMPUTED_WINDOW_MS = 60_000

/** What one routed request adds to its pod's load until it gets its first byte, and until it ends. */
export interface LoadTicket {
  /** The first byte came back: the request no longer waits for a prefill. */
  firstByte(): void
  /** The request ended (any way); safe to call more than once. */
  release(): void
}

/**
 * The gateway's own view of each pod's load, kept per pod address: requests open, those still
 * waiting for their first token and the prompt tokens they still have to prefill, the KV routed
 * there recently (net of requests that ended) and the uncached tokens sent to compute lately.
 */
export class PodLoad {
  readonly prefilling = new InflightTracker()
  private readonly prefillWork = new InflightTracker()
  private readonly kv: DispatchLog
  private readonly computed = new DispatchLog(COMPUTED_WINDOW_MS)

  /** `kvWindowMs`: how long scraped metrics stay usable, hence how far back routed KV is asked for. */
  constructor(
    readonly inflight: InflightTracker,
    kvWindowMs: number,
    private readonly now: () => number = Date.now
  ) {
    this.kv = new DispatchLog(kvWindowMs)
  }

  /** Counts a request routed to `address` that takes `kvTokens` of KV and has `prefillTokens` to compute. */
  start(address: string, kvTokens: number, prefillTokens: number): LoadTicket {
    const at = this.now()
    this.kv.record(address, kvTokens, at)
    this.computed.record(address, prefillTokens, at)
    return new PodLoadTicket(this, address, kvTokens, Math.round(prefillTokens))
  }

  /** @internal a ticket's request is open on the pod, waiting for its first token with `work` prompt tokens to prefill */
  began(address: string, work: number): void {
    this.inflight.add(address)
    this.prefilling.add(address)
    this.prefillWork.add(address, work)
  }

  /** @internal a ticket's request got its first token (or ended without one) */
  prefillEnded(address: string, work: number): void {
    this.prefilling.remove(address)
    this.prefillWork.remove(address, work)
  }

  /** @internal a ticket's request ended: it is no longer open, and its KV leaves the pod's recent dispatches */
  ended(address: string, kvTokens: number): void {
    this.inflight.remove(address)
    this.kv.record(address, -kvTokens, this.now())
  }

  /** Prompt tokens still to prefill of the requests waiting for a first token on the pod. */
  prefillTokens(address: string): number {
    return this.prefillWork.get(address)
  }

  /** KV tokens routed to the pod after `at`, minus those of requests that ended since. */
  kvTokensSince(address: string, at: number): number {
    return this.kv.since(address, at)
  }

  /** Uncached prompt tokens sent to the pod to compute over the last minute. */
  recentComputedTokens(address: string): number {
    return this.computed.since(address, this.now() - COMPUTED_WINDOW_MS)
  }

  /** Forgets pods that are gone. */
  retain(addresses: ReadonlySet<string>): void {
    this.kv.retain(addresses)
    this.computed.retain(addresses)
  }
}

/**
 * One request's load on its pod: one object with two flags rather than a closure per count (this
 * is made for every request; fewer short-lived objects is less for the scavenger).
 */
class PodLoadTicket implements LoadTicket {
  private prefilling = true
  private released = false

  constructor(
    private readonly load: PodLoad,
    private readonly address: string,
    private readonly kvTokens: number,
    private readonly prefillWork: number
  ) {
    load.began(address, prefillWork)
  }

  firstByte(): void {
    if (!this.prefilling) return
    this.prefilling = false
    this.load.prefillEnded(this.address, this.prefillWork)
  }

  release(): void {
    this.firstByte()
    if (this.released) return
    this.released = true
    this.load.ended(this.address, this.kvTokens)
  }
}
