import { LRUCache } from 'lru-cache'
import xxhash from 'xxhash-wasm'

export type Hash64 = (input: Uint8Array, seed: bigint) => bigint

/** xxHash64 (WebAssembly): loaded once, before the first request. */
export async function createHasher(): Promise<Hash64> {
  const { h64Raw } = await xxhash()
  return h64Raw
}

const encoder = new TextEncoder()

/**
 * AIBrix's prefix blocks: the text's UTF-8 bytes cut into `blockSize`-byte blocks, each hashed
 * with the previous block's hash as seed, so a hash names the whole prefix up to its block.
 * A trailing partial block is not indexed (it cannot be a shared prefix yet).
 */
export function blockHashes(text: string, blockSize: number, hash: Hash64): bigint[] {
  const bytes = encoder.encode(text)
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

  /** For each candidate pod, how many leading blocks of `hashes` it holds. */
  match(hashes: readonly bigint[], podIds: ReadonlySet<string>): Map<string, number> {
    const counts = new Map<string, number>()
    let alive: Set<string> | undefined
    for (let i = 0; i < hashes.length; i++) {
      const holders = this.blocks.get(hashes[i])
      if (!holders) break
      const next = new Set<string>()
      for (const id of alive ?? holders) if (holders.has(id) && podIds.has(id)) next.add(id)
      if (next.size === 0) break
      for (const id of next) counts.set(id, i + 1)
      alive = next
    }
    return counts
  }

  insert(hashes: readonly bigint[], podId: string): void {
    for (const h of hashes) {
      const holders = this.blocks.get(h)
      if (holders) holders.add(podId)
      else this.blocks.set(h, new Set([podId]))
    }
  }
}
