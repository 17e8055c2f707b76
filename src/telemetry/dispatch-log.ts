/** One pod's entries: times ascending, with the running token total after each (a prefix sum). */
interface PodLog {
  at: number[]
  total: number[]
  /** Entries before `head` are expired (compacted away once they are half the arrays). */
  head: number
}

/**
 * Tokens routed to each pod over a recent window (negative amounts for requests that ended), asked
 * as "how many since time t" — e.g. what a pod has gained since its metrics were scraped. Without
 * that, every request between two scrapes goes to the same "emptiest" pod. Recording is amortised
 * O(1), a query is a binary search, and a pod's log holds at most one entry per millisecond of the
 * window, whatever the request rate.
 */
export class DispatchLog {
  private readonly pods = new Map<string, PodLog>()

  /** Entries older than `keepMs` are dropped. */
  constructor(private readonly keepMs: number) {}

  record(address: string, tokens: number, at: number): void {
    let log = this.pods.get(address)
    if (!log) this.pods.set(address, (log = { at: [], total: [], head: 0 }))
    const last = log.at.length - 1
    // entries of the same millisecond are one entry: a query cannot tell them apart, and at
    // thousands of requests a second this keeps the window to at most one entry per millisecond
    if (last >= log.head && log.at[last] === at) {
      log.total[last] += tokens
      return
    }
    log.at.push(at)
    log.total.push((last >= 0 ? log.total[last] : 0) + tokens)
    while (log.head < log.at.length && log.at[log.head] < at - this.keepMs) log.head++
    if (log.head > 64 && log.head * 2 > log.at.length) {
      log.at.splice(0, log.head)
      log.total.splice(0, log.head)
      log.head = 0
    }
  }

  /** Tokens routed to the pod after `at` (within the window). */
  since(address: string, at: number): number {
    const log = this.pods.get(address)
    if (!log || log.at.length === log.head) return 0
    // first live entry later than `at`
    let lo = log.head
    let hi = log.at.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (log.at[mid] > at) hi = mid
      else lo = mid + 1
    }
    if (lo === log.at.length) return 0
    const last = log.total[log.total.length - 1]
    return last - (lo > 0 ? log.total[lo - 1] : 0)
  }

  /** Forgets pods that are gone. */
  retain(addresses: ReadonlySet<string>): void {
    for (const address of this.pods.keys()) if (!addresses.has(address)) this.pods.delete(address)
  }
}
