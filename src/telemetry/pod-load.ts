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
    return new PodTicket(this, address, kvTokens, Math.round(prefillTokens))
  }

  /** A ticket's first byte: its pod no longer has its prompt to prefill. */
  prefilled(address: string, prefillTokens: number): void {
    this.prefilling.add(address, -1)
    this.prefillWork.add(address, -prefillTokens)
  }

  /** A ticket's request ended: it no longer holds its pod's KV. */
  ended(address: string, kvTokens: number): void {
    this.inflight.add(address, -1)
    this.kv.record(address, -kvTokens, this.now())
  }

  /** A ticket's request starts: counted open and waiting for its first byte. */
  opened(address: string, prefillTokens: number): void {
    this.inflight.add(address, 1)
    this.prefilling.add(address, 1)
    this.prefillWork.add(address, prefillTokens)
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

/** One request's load on its pod: an object with two flags rather than closures (this is made for every request). */
class PodTicket implements LoadTicket {
  private prefilling = true
  private open = true

  constructor(
    private readonly load: PodLoad,
    private readonly address: string,
    private readonly kvTokens: number,
    private readonly prefillTokens: number
  ) {
    load.opened(address, prefillTokens)
  }

  firstByte(): void {
    if (!this.prefilling) return
    this.prefilling = false
    this.load.prefilled(this.address, this.prefillTokens)
  }

  release(): void {
    this.firstByte()
    if (!this.open) return
    this.open = false
    this.load.ended(this.address, this.kvTokens)
  }
}
