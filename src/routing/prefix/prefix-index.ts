import type { BlockHashes } from './block-hash.js'

export interface PrefixIndexOptions {
  maxBlocks: number
  ttlMs: number
}

interface Entry {
  /** The hash's other 32 bits: a different prefix whose key collides is a miss, not a match. */
  check: number
  holders: Set<string>
  touchedAt: number
}

/**
 * block hash → pods that served that prefix; bounded and expiring (TTL).
 *
 * Bounded by two generations of Maps rather than an exact LRU: blocks touched since the last
 * rotation live in `young`; when it is full it becomes `old` and the previous `old` is dropped
 * whole; a hit in `old` moves the block back to `young`. A recently used block is never dropped,
 * at most `maxBlocks` are kept, and a lookup is one Map get — an exact LRU (lru-cache, with its
 * per-get reordering and TTL bookkeeping) cost ~4× as much, 0.12 ms per 100 KB prompt.
 */
export class PrefixIndex {
  private young = new Map<number, Entry>()
  private old = new Map<number, Entry>()

  private readonly generation: number

  constructor(private readonly opts: PrefixIndexOptions) {
    this.generation = Math.max(1, Math.floor(opts.maxBlocks / 2))
  }

  get size(): number {
    return this.young.size + this.old.size
  }

  /** The block's entry, refreshed; undefined when unknown or expired. */
  private touch(key: number, check: number, now: number): Entry | undefined {
    let entry = this.young.get(key)
    if (!entry) {
      entry = this.old.get(key)
      if (!entry) return undefined
      this.old.delete(key)
      if (now - entry.touchedAt > this.opts.ttlMs) return undefined
      this.store(key, entry)
    } else if (now - entry.touchedAt > this.opts.ttlMs) {
      this.young.delete(key)
      return undefined
    }
    if (entry.check !== check) return undefined
    entry.touchedAt = now
    return entry
  }

  private store(key: number, entry: Entry): void {
    if (this.young.size >= this.generation) {
      this.old = this.young
      this.young = new Map()
    }
    this.young.set(key, entry)
  }

  /**
   * For each candidate pod, how many leading blocks of `hashes` it holds. Inserts always cover a
   * whole prefix and matching refreshes blocks front to back, so a block's holders contain the
   * next block's: holder sets only shrink along the chain, and are compared only where their size
   * changes (O(blocks + pods) instead of O(blocks × pods)).
   */
  match({ keys, checks }: BlockHashes, podIds: ReadonlySet<string>, now = Date.now()): Map<string, number> {
    const counts = new Map<string, number>()
    let current = keys.length > 0 ? this.touch(keys[0], checks[0], now)?.holders : undefined
    let i = 1
    while (current) {
      let next: Set<string> | undefined
      for (; i < keys.length; i++) {
        next = this.touch(keys[i], checks[i], now)?.holders
        if (!next || next.size !== current.size) break
      }
      if (i >= keys.length) next = undefined
      for (const id of current) if (podIds.has(id) && !counts.has(id) && !next?.has(id)) counts.set(id, i)
      current = next
      i++
    }
    return counts
  }

  /** How many leading blocks of `hashes` `podId` holds (refreshing them, as match does). */
  heldBy({ keys, checks }: BlockHashes, podId: string, now = Date.now()): number {
    let i = 0
    while (i < keys.length && this.touch(keys[i], checks[i], now)?.holders.has(podId)) i++
    return i
  }

  /** Takes `podId` off the blocks from `from` on (an attempt there failed: it never cached them). */
  remove({ keys, checks }: BlockHashes, podId: string, from = 0): void {
    for (let i = from; i < keys.length; i++) {
      const map = this.young.has(keys[i]) ? this.young : this.old
      const entry = map.get(keys[i])
      if (!entry || entry.check !== checks[i]) continue
      entry.holders.delete(podId)
      if (entry.holders.size === 0) map.delete(keys[i])
    }
  }

  /** Records that `podId` now holds the prefix; blocks before `from` are known to be held already. */
  insert({ keys, checks }: BlockHashes, podId: string, from = 0, now = Date.now()): void {
    for (let i = from; i < keys.length; i++) {
      const entry = this.touch(keys[i], checks[i], now)
      if (entry) entry.holders.add(podId)
      else this.store(keys[i], { check: checks[i], holders: new Set([podId]), touchedAt: now })
    }
  }
}
