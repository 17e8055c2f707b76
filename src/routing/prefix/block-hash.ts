/**
 * Chained block hashes: a hash per full block, seeded with the previous block's, so one hash names
 * the whole prefix up to its block. Used for the gateway's prefix index (text bytes) and the
 * simulator's KV cache (token ids).
 *
 * Plain JavaScript on 32-bit words: for a 100 KB prompt (781 blocks of 128 bytes) it takes ~50 µs,
 * where a WebAssembly xxHash64 call per block took ~250 µs — the per-call crossing, not the hashing,
 * dominated. Four independent accumulators keep the multiplier pipelines busy; each step
 * `v = rotl(imul(v ^ word, P), 13)` is a bijection of `v`, so two blocks that differ in one word
 * never collide. The chain state is 64 bits (two 32-bit halves), of which a block keeps 63.
 */

const P1 = 0x9e3779b1 | 0
const P2 = 0x85ebca77 | 0
const P3 = 0xc2b2ae3d | 0
const P4 = 0x27d4eb2f | 0

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r))

function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/**
 * A prompt's block hashes. `keys[i]` (31 bits, a small integer: the cheapest Map key there is) and
 * `checks[i]` (32 more bits, compared on a hit) together name the prefix up to block i.
 */
export interface BlockHashes {
  keys: Int32Array
  checks: Int32Array
}

/**
 * Hash arrays are views cut from shared blocks of memory, the way Buffer.allocUnsafe cuts small
 * buffers from its pool. A typed array with memory of its own costs 0.2–0.7 µs to make (V8 puts one
 * of length 0 or over 64 bytes outside its heap, and frees it in a later GC); a view costs ~0.05 µs.
 * A block is never handed out twice: views a request still holds keep theirs alive.
 */
const HASH_POOL_BYTES = 64 * 1024
let hashPool = new ArrayBuffer(HASH_POOL_BYTES)
let hashPoolUsed = 0

function int32Array(length: number): Int32Array {
  const bytes = length * 4
  // a long prompt's arrays get memory of their own, so as not to pin a block for a few views
  if (bytes > HASH_POOL_BYTES / 8) return new Int32Array(length)
  if (hashPoolUsed + bytes > HASH_POOL_BYTES) {
    hashPool = new ArrayBuffer(HASH_POOL_BYTES)
    hashPoolUsed = 0
  }
  const view = new Int32Array(hashPool, hashPoolUsed, length)
  hashPoolUsed += bytes
  return view
}

/** Hashes of the first `blocks` blocks of `wordsPerBlock` words each; `salt` starts the chain elsewhere. */
export function chainedHashes(words: Int32Array, wordsPerBlock: number, blocks: number, salt = 0): BlockHashes {
  const keys = int32Array(blocks)
  const checks = int32Array(blocks)
  let hi = salt | 0
  let lo = 0
  for (let b = 0, i = 0; b < blocks; b++) {
    let v1 = hi
    let v2 = lo
    let v3 = hi ^ P4
    let v4 = lo ^ P3
    const end = i + wordsPerBlock
    for (; i + 3 < end; i += 4) {
      v1 = rotl(Math.imul(v1 ^ words[i], P1), 13)
      v2 = rotl(Math.imul(v2 ^ words[i + 1], P2), 13)
      v3 = rotl(Math.imul(v3 ^ words[i + 2], P3), 13)
      v4 = rotl(Math.imul(v4 ^ words[i + 3], P4), 13)
    }
    for (; i < end; i++) v1 = rotl(Math.imul(v1 ^ words[i], P1), 13)
    hi = fmix(v1 ^ rotl(v2, 7) ^ Math.imul(v3, P2) ^ rotl(v4, 18))
    lo = fmix(v2 ^ rotl(v3, 11) ^ Math.imul(v4, P1) ^ rotl(v1, 23) ^ hi)
    keys[b] = hi >> 1
    checks[b] = lo
  }
  return { keys, checks }
}

const encoder = new TextEncoder()
/** Reused across calls, with its views: encoding into it is ~6× faster than allocating (the hot path for long prompts). */
let scratch = new ArrayBuffer(1 << 16)
let scratchBytes = new Uint8Array(scratch)
let scratchWords = new Int32Array(scratch)

/**
 * AIBrix's prefix blocks: the text's UTF-8 bytes cut into `blockSize`-byte blocks (a multiple of 4,
 * so blocks are whole words). A trailing partial block is not indexed (it cannot be a shared prefix yet).
 */
export function blockHashes(text: string, blockSize: number, salt = 0): BlockHashes {
  if (scratch.byteLength < text.length * 3) {
    scratch = new ArrayBuffer((text.length * 3 + 3) & ~3)
    scratchBytes = new Uint8Array(scratch)
    scratchWords = new Int32Array(scratch)
  }
  const { written } = encoder.encodeInto(text, scratchBytes)
  return chainedHashes(scratchWords, blockSize >> 2, Math.floor(written / blockSize), salt)
}

/**
 * A model's (or LoRA adapter's) salt for its first block, as vLLM salts per adapter: two models or
 * adapters on the same pods have separate KV caches, so equal prompts must not share index entries.
 */
export function modelSalt(model: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < model.length; i++) h = Math.imul(h ^ model.charCodeAt(i), 0x01000193)
  return h | 0
}

/** vLLM-style blocks over token ids, `tokensPerBlock` ids each. A `salt` (vLLM: the LoRA adapter) keeps equal tokens under different adapters apart. */
export function tokenHashes(tokens: readonly number[], tokensPerBlock: number, salt = 0): BlockHashes {
  return chainedHashes(Int32Array.from(tokens), tokensPerBlock, Math.floor(tokens.length / tokensPerBlock), salt)
}

/** The simulator's KV block names: token blocks as above, 53 of their 63 bits as one number each. */
export function tokenBlockHashes(tokens: readonly number[], tokensPerBlock: number, salt = 0): number[] {
  const { keys, checks } = tokenHashes(tokens, tokensPerBlock, salt)
  return Array.from(keys, (key, i) => (key + 2 ** 30) * 2 ** 22 + (checks[i] >>> 10))
}
