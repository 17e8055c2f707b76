import { LRUCache } from 'lru-cache'
import xxhash from 'xxhash-wasm'

export type Hash64 = (input: Uint8Array, seed: bigint) => bigint

/** xxHash64 (WebAssembly): loaded once, before the first request. */
export async function createHasher(): Promise<Hash64> {
  const { h64Raw } = await xxhash()
  return h64Raw
}

const encoder = new TextEncoder()
/** Reused across calls: encoding into it is ~6× faster than allocating (the hot path for long prompts). */
let scratch = new Uint8Array(1 << 16)

/**
 * AIBrix's prefix blocks: the text's UTF-8 bytes cut into `blockSize`-byte blocks, each hashed
 * with the previous block's hash as seed, so a hash names the whole prefix up to its block.
 * A trailing partial block is not indexed (it cannot be a shared prefix yet).
 */
export function blockHashes(text: string, blockSize: number, hash: Hash64): bigint[] {
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3)
  const bytes = scratch.subarray(0, encoder.encodeInto(text, scratch).written)
  const out: bigint[] = []
  let seed = 0n
  for (let end = blockSize; end <= bytes.length; end += blockSize) {
    seed = hash(bytes.subarray(end - blockSize, end), seed)
    out.push(seed)
  }
  return out
}

export interface PrefixIndexOptions {
  maxBlocks: number
  ttlMs: number
}

/** hash → pods that served that prefix; bounded (LRU) and expiring (TTL). */
export class PrefixIndex {
  private readonly blocks: LRUCache<bigint, Set<string>>

  constructor(opts: PrefixIndexOptions) {
    this.blocks = new LRUCache<bigint, Set<string>>({ max: opts.maxBlocks, ttl: opts.ttlMs, ttlAutopurge: false, updateAgeOnGet: true })
  }

  get size(): number {
    return this.blocks.size
  }

  /**
   * For each candidate pod, how many leading blocks of `hashes` it holds. Inserts always cover a
   * whole prefix and matching refreshes blocks front to back, so a block's holders contain the
   * next block's: holder sets only shrink along the chain, and are compared only where their size
   * changes (O(blocks + pods) instead of O(blocks × pods)).
   */
  match(hashes: readonly bigint[], podIds: ReadonlySet<string>): Map<string, number> {
    const counts = new Map<string, number>()
    let current = hashes.length > 0 ? this.blocks.get(hashes[0]) : undefined
    let i = 1
    while (current) {
      let next: Set<string> | undefined
      for (; i < hashes.length; i++) {
        next = this.blocks.get(hashes[i])
        if (!next || next.size !== current.size) break
      }
      if (i >= hashes.length) next = undefined
      for (const id of current) if (podIds.has(id) && !counts.has(id) && !next?.has(id)) counts.set(id, i)
      current = next
      i++
    }
    return counts
  }

  /** Records that `podId` now holds the prefix; blocks before `from` are known to be held already. */
  insert(hashes: readonly bigint[], podId: string, from = 0): void {
    for (let i = from; i < hashes.length; i++) {
      const holders = this.blocks.get(hashes[i])
      if (holders) holders.add(podId)
      else this.blocks.set(hashes[i], new Set([podId]))
    }
  }
}
