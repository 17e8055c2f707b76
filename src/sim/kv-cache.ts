/**
 * vLLM-style paged KV cache with automatic prefix caching: fixed-size blocks; full prompt blocks
 * are named by a chained hash of their tokens and shared between requests; when no request holds
 * a named block it stays cached (LRU) until its space is needed.
 */
export class KvCache {
  /** Blocks held by running requests (shared blocks once). */
  private used = 0
  /** Named blocks held by running requests → how many requests hold them. */
  private readonly refs = new Map<number, number>()
  /** Named blocks nobody holds, kept for reuse; Map order = least recently used first. */
  private readonly idle = new Map<number, true>()

  constructor(readonly capacity: number) {}

  get usage(): number {
    return this.used / this.capacity
  }

  /** Leading blocks of `hashes` whose content is in the cache (held or idle). */
  cachedPrefix(hashes: readonly number[]): number {
    let n = 0
    while (n < hashes.length && (this.refs.has(hashes[n]) || this.idle.has(hashes[n]))) n++
    return n
  }

  private free(): number {
    return this.capacity - this.used - this.idle.size
  }

  /** Makes room for `n` new blocks by evicting idle cached blocks (LRU); false if impossible. */
  private reserve(n: number): boolean {
    if (this.capacity - this.used < n) return false
    for (const h of this.idle.keys()) {
      if (this.free() >= n) break
      this.idle.delete(h)
    }
    return this.free() >= n
  }

  /**
   * Admits a request: holds its named prompt blocks (reusing cached ones) plus `extra` unnamed
   * blocks. Returns how many leading blocks were cache hits, or undefined when it does not fit.
   */
  acquire(hashes: readonly number[], extra: number): number | undefined {
    const hit = this.cachedPrefix(hashes)
    // blocks already held by others cost nothing; idle or new ones take space
    let newBlocks = extra
    for (const h of hashes) if (!this.refs.has(h)) newBlocks++
    // idle hits are taken out of the evictable set first; they then count as needed space like new blocks
    const idleHits = hashes.filter((h) => this.idle.has(h))
    for (const h of idleHits) this.idle.delete(h)
    const ok = this.reserve(newBlocks)
    if (!ok) {
      for (const h of idleHits) this.idle.set(h, true)
      return undefined
    }
    for (const h of hashes) {
      const r = this.refs.get(h) ?? 0
      if (r === 0) this.used++
      this.refs.set(h, r + 1)
    }
    this.used += extra
    return hit
  }

  /** One more unnamed block for a running request (decode growth); false when full. */
  grow(): boolean {
    if (!this.reserve(1)) return false
    this.used++
    return true
  }

  /** Forgets every cached block nobody holds (a cold cache for the next benchmark run). */
  dropIdle(): void {
    this.idle.clear()
  }

  /** Releases a request's blocks; its named blocks stay cached while space allows. */
  release(hashes: readonly number[], extra: number): void {
    for (const h of hashes) {
      const r = this.refs.get(h) ?? 0
      if (r <= 1) {
        this.refs.delete(h)
        this.used--
        this.idle.set(h, true)
      } else this.refs.set(h, r - 1)
    }
    this.used -= extra
  }
}
