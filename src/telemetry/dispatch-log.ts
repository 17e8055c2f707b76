/**
 * Tokens (prompt + expected output) routed to each pod in the last moments, so a strategy reading
 * scraped KV usage can add what the pod has been sent since that scrape. Without it every request
 * between two scrapes goes to the same "emptiest" pod.
 */
export class DispatchLog {
  private readonly entries = new Map<string, { at: number; tokens: number }[]>()

  /** Entries older than `keepMs` are dropped: scraped metrics that old are stale anyway. */
  constructor(private readonly keepMs: number) {}

  record(address: string, tokens: number, at: number): void {
    let list = this.entries.get(address)
    if (!list) this.entries.set(address, (list = []))
    list.push({ at, tokens })
    let drop = 0
    while (drop < list.length && list[drop].at < at - this.keepMs) drop++
    if (drop > 0) list.splice(0, drop)
  }

  /** Tokens routed to the pod after `at`. */
  since(address: string, at: number): number {
    const list = this.entries.get(address)
    let tokens = 0
    if (list) for (let i = list.length - 1; i >= 0 && list[i].at > at; i--) tokens += list[i].tokens
    return tokens
  }

  /** Forgets pods that are gone. */
  retain(addresses: ReadonlySet<string>): void {
    for (const address of this.entries.keys()) if (!addresses.has(address)) this.entries.delete(address)
  }
}
