import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { cacheAwareStrategy, prefixCacheStrategy } from '../../src/routing/prefix-cache.js'
import { blockHashes, chainedHashes, type BlockHashes } from '../../src/routing/prefix/block-hash.js'
import { PrefixIndex } from '../../src/routing/prefix/prefix-index.js'
import { decide, input, pod } from '../helpers/routing.js'

const cfg = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } } }).routing.prefixCache
const pods = [pod('a'), pod('b'), pod('c')]
const system = 'You are a helpful assistant for ACME. '.repeat(40) // ~1.5 KB shared prefix

t.test('chained block hashes: equal prefixes share leading hashes, and only them', async (t) => {
  const x = blockHashes(system + 'question one', 128)
  t.same(x, blockHashes(system + 'question one', 128), 'deterministic')
  t.same(blockHashes('é'.repeat(100), 128).keys.length, 1, 'UTF-8 bytes, not UTF-16 units, are cut into blocks')
  const y = blockHashes(system + 'another question entirely', 128)
  const shared = Math.floor(system.length / 128)
  t.same(x.keys.slice(0, shared), y.keys.slice(0, shared))
  t.same(x.checks.slice(0, shared), y.checks.slice(0, shared))
  t.not(x.keys[shared], y.keys[shared], 'the block where they differ')
  t.equal(blockHashes('short', 128).keys.length, 0, 'a partial block is not indexed')
  const z = blockHashes('X' + system.slice(1), 128)
  t.not(z.keys[shared - 1], x.keys[shared - 1], 'a change early changes every later hash (chained)')
})

t.test('block hashes kept by many requests stay their own while the shared memory they are cut from is reused', async (t) => {
  // enough prompts to fill the shared 64 KB blocks many times over; every result is kept, as
  // requests in flight keep theirs, then each is compared with a fresh copy of itself
  const prompts = Array.from({ length: 3000 }, (_, i) => `${system.slice(0, 128 * (1 + (i % 11)))} #${i}`)
  const kept = prompts.map((p) => blockHashes(p, 128))
  let differing = 0
  for (let i = 0; i < prompts.length; i++) {
    const fresh = blockHashes(prompts[i], 128)
    const same = fresh.keys.length === kept[i].keys.length && fresh.keys.every((k, j) => k === kept[i].keys[j]) && fresh.checks.every((c, j) => c === kept[i].checks[j])
    if (!same) differing++
  }
  t.equal(differing, 0, 'no kept result was overwritten by a later one')
  t.ok(kept.every((h, i) => h.keys.length === 1 + (i % 11)), 'each prompt has its own number of blocks (1 to 11)')
  const long = blockHashes('y'.repeat(128 * 5000), 128)
  t.equal(long.keys.length, 5000, 'a long prompt (arrays too big for the shared blocks) is hashed all the same')
})

t.test('block hashes: distinct blocks get distinct keys, one-word changes always differ', async (t) => {
  const words = new Int32Array(32 * 50_000)
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 0x9e3779b1) >>> 7
  const seen = new Set<string>()
  const name = (w: Int32Array) => {
    const h = chainedHashes(w, 32, 1)
    return `${h.keys[0]}:${h.checks[0]}`
  }
  for (let b = 0; b < 50_000; b++) seen.add(name(words.subarray(b * 32, b * 32 + 32)))
  t.equal(seen.size, 50_000, 'no collisions among 50k distinct blocks')
  const base = name(words)
  let same = 0
  for (let w = 0; w < 32; w++)
    for (let bit = 0; bit < 32; bit += 7) {
      const flipped = words.slice(0, 32)
      flipped[w] ^= 1 << bit
      if (name(flipped) === base) same++
    }
  t.equal(same, 0, 'flipping any single bit changes the key')
})

const slice = (h: BlockHashes, n: number): BlockHashes => ({ keys: h.keys.slice(0, n), checks: h.checks.slice(0, n) })
const one = (i: number): BlockHashes => ({ keys: Int32Array.of(i * 7919 + 13), checks: Int32Array.of(i) })

t.test('prefix index: a key collision with another prefix is a miss', async (t) => {
  const idx = new PrefixIndex({ maxBlocks: 100, ttlMs: 60_000 })
  idx.insert({ keys: Int32Array.of(42), checks: Int32Array.of(1) }, 'a')
  t.same(Object.fromEntries(idx.match({ keys: Int32Array.of(42), checks: Int32Array.of(1) }, new Set(['a']))), { a: 1 })
  t.same(Object.fromEntries(idx.match({ keys: Int32Array.of(42), checks: Int32Array.of(2) }, new Set(['a']))), {}, 'same key, other check')
})

t.test('prefix index: entries expire after the TTL', async (t) => {
  const idx = new PrefixIndex({ maxBlocks: 100, ttlMs: 1000 })
  const h = blockHashes(system, 128)
  idx.insert(h, 'a', 0, 10_000)
  t.same(Object.fromEntries(idx.match(h, new Set(['a']), 10_900)), { a: h.keys.length }, 'within the TTL')
  t.same(Object.fromEntries(idx.match(h, new Set(['a']), 12_000)), {}, 'more than the TTL since last use')
})

t.test('prefix index: longest leading match per pod, bounded by maxBlocks', async (t) => {
  const idx = new PrefixIndex({ maxBlocks: 1000, ttlMs: 60_000 })
  const h = blockHashes(system, 128)
  idx.insert(slice(h, 5), 'a')
  idx.insert(h, 'b')
  t.same(Object.fromEntries(idx.match(h, new Set(['a', 'b', 'c']))), { a: 5, b: h.keys.length })
  t.same(Object.fromEntries(idx.match(h, new Set(['a']))), { a: 5 }, 'only candidate pods count')
  t.same([idx.heldBy(h, 'a'), idx.heldBy(h, 'b'), idx.heldBy(h, 'c')], [5, h.keys.length, 0], 'heldBy: one pod\'s leading blocks, as match counts them')
  for (let i = 0; i < 5000; i++) idx.insert(one(i), 'c')
  t.ok(idx.size <= 1000 && idx.size >= 500, `bounded by maxBlocks (${idx.size})`)
  t.same(Object.fromEntries(idx.match(h, new Set(['a', 'b']))), {}, 'blocks not used since are dropped')
  idx.insert(h, 'b')
  for (let i = 0; i < 5000; i++) {
    idx.insert(one(i), 'c')
    if (i % 400 === 0) idx.match(h, new Set(['b']))
  }
  t.same(Object.fromEntries(idx.match(h, new Set(['b']))), { b: h.keys.length }, 'a prefix in use stays, however much else is inserted')
})

t.test('prefix index memory at its bound (200k blocks) stays small', async (t) => {
  const idx = new PrefixIndex({ maxBlocks: 200_000, ttlMs: 60_000 })
  global.gc?.()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 400_000; i++) idx.insert(one(i), `ns/pod-${i % 8}`)
  const mb = (process.memoryUsage().heapUsed - before) / 2 ** 20
  t.ok(idx.size <= 200_000 && idx.size >= 100_000)
  t.ok(mb < 150, `~${mb.toFixed(0)} MB for 200k blocks`)
  t.comment(`prefix index at 200k blocks: ~${mb.toFixed(0)} MB heap`)
})

t.test('prefix-cache (AIBrix): follows the prefix, unless that pod is too loaded', async (t) => {
  const s = prefixCacheStrategy(cfg)
  const first = decide(s, input(pods, { text: system + 'q1', inflight: { a: 1, c: 1 } }))!
  t.equal(first.pod.name, 'b', 'no match: least loaded')
  t.equal(first.prefixMatch, 0)
  const again = decide(s, input(pods, { text: system + 'q2', inflight: { b: 2, a: 1, c: 1 } }))!
  t.equal(again.pod.name, 'b', 'longest match within mean + 2σ')
  t.ok(again.prefixMatch! > 0.9)
  const skewed = decide(s, input(pods, { text: system + 'q3', inflight: { b: 30, a: 1, c: 2 } }))!
  t.equal(skewed.pod.name, 'a', 'imbalance > 16: least loaded')
})

t.test('cache-aware: stays while queueing is cheaper than recomputing the prefix', async (t) => {
  const s = cacheAwareStrategy(cfg)
  const long = 'S'.repeat(40_000) // ~10k tokens of shared context
  const perf = { a: { prefillMsPerToken: 0.05, ttftMs: 50 }, b: { prefillMsPerToken: 0.05, ttftMs: 50 }, c: { prefillMsPerToken: 0.05, ttftMs: 50 } }
  const home = decide(s, input(pods, { text: long + 'turn 1', perf }))!.pod.name
  t.equal(decide(s, input(pods, { text: long + 'turn 2', perf, inflight: { [home]: 5 } }))!.pod.name, home, '5 queued prefills (5000 tokens, 250 ms) < 500 ms of prefill')
  const moved = decide(s, input(pods, { text: long + 'turn 3', perf, inflight: { [home]: 30 } }))!
  t.not(moved.pod.name, home, '30 queued prefills (1500 ms) > twice the 500 ms prefill (recompute + the second copy): move')
  const short = decide(s, input(pods, { text: 'tiny', perf, inflight: { a: 1, b: 0, c: 2 } }))!
  t.equal(short.pod.name, 'b', 'nothing to reuse: least queue')
})

t.test('cache-aware scores a heterogeneous cluster by measured speed', async (t) => {
  const s = cacheAwareStrategy(cfg)
  const perf = { a: { prefillMsPerToken: 0.12, ttftMs: 120 }, b: { prefillMsPerToken: 0.02, ttftMs: 25 }, c: { prefillMsPerToken: 0.05, ttftMs: 50 } }
  t.equal(decide(s, input(pods, { text: 'x'.repeat(4000), perf }))!.pod.name, 'b')
})

t.test('prefix strategies share new prefixes among equally idle pods', async (t) => {
  let seed = 1
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
  const four = [pod('a'), pod('b'), pod('c'), pod('d')]
  for (const s of [prefixCacheStrategy(cfg), cacheAwareStrategy(cfg)]) {
    const counts = new Map<string, number>()
    for (let i = 0; i < 40; i++) {
      const name = decide(s, input(four, { text: `tenant ${i} `.repeat(100), random }))!.pod.name
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
    t.equal(counts.size, 4, `${s.name}: every idle pod gets new prefixes (${JSON.stringify(Object.fromEntries(counts))})`)
    t.ok(Math.max(...counts.values()) <= 20, `${s.name}: none takes half of them`)
  }
})

t.test('pick() and score() only read; accepted() records; retracted() takes back what accepted() added', async (t) => {
  for (const s of [prefixCacheStrategy(cfg), cacheAwareStrategy(cfg)]) {
    const one = input(pods, { text: system + 'q1', random: () => 0 })
    s.pick(one)
    s.score?.(one)
    t.equal(s.pick(input(pods, { text: system + 'q2' }))!.prefixMatch, 0, `${s.name}: nothing learned from pick or score`)
    const first = decide(s, input(pods, { text: system + 'q1' }))!
    const second = s.pick(input(pods, { text: system + 'q2' }))!
    t.equal(second.pod.name, first.pod.name, `${s.name}: accepted pod holds the prefix`)
    t.ok(second.prefixMatch! > 0.9)
    // an attempt that failed on another pod leaves no trace there
    const other = pods.find((p) => p.name !== first.pod.name)!
    const failed = input(pods, { text: system + 'q3' })
    s.accepted?.(failed, other)
    s.retracted?.(failed, other)
    const match = s.score!(input(pods, { text: system + 'q4' }))
    const otherIndex = pods.indexOf(other)
    if (s.name === 'prefix-cache') t.equal(match[otherIndex], 0, 'the failed pod holds nothing after the retraction')
    t.equal(s.pick(input(pods, { text: system + 'q5' }))!.pod.name, first.pod.name, `${s.name}: still the pod that served`)
  }
})

t.test('prefix keys are per model and adapter: two adapters with the same system prompt do not share entries', async (t) => {
  for (const s of [prefixCacheStrategy(cfg), cacheAwareStrategy(cfg)]) {
    const a = decide(s, input(pods, { text: system + 'q1', model: 'lora-a' }))!
    t.ok(s.pick(input(pods, { text: system + 'q2', model: 'lora-a' }))!.prefixMatch! > 0.9, `${s.name}: same adapter matches`)
    t.equal(s.pick(input(pods, { text: system + 'q2', model: 'lora-b' }))!.prefixMatch, 0, `${s.name}: another adapter does not`)
    t.ok(a)
  }
})

t.test('cache-aware knows when a batch is full: a hot prefix spills to a second pod when the wait for a slot exceeds recomputing it', async (t) => {
  const s = cacheAwareStrategy(cfg)
  const perf = { a: { prefillMsPerToken: 0.1, ttftMs: 50, e2eMs: 1000 }, b: { prefillMsPerToken: 0.1, ttftMs: 50, e2eMs: 1000 }, c: { prefillMsPerToken: 0.1, ttftMs: 50, e2eMs: 1000 } }
  const hot = 'H'.repeat(4096) // ~1k tokens of shared system prompt: 100 ms to recompute
  const home = decide(s, input(pods, { text: hot + 'q0', perf }))!.pod.name
  // 16 running on the holder, all decoding: without a known cap it stays (prefill is the only queue)
  const busy = { [home]: 20 }
  const decodingOnly = { [home]: 0 }
  t.equal(s.pick(input(pods, { text: hot + 'q1', perf, inflight: busy, prefilling: decodingOnly }))!.pod.name, home, 'cap unknown: stays with its cache')
  // the same pod with a learned cap of 16: the 21st waits for 5 of the running to finish, ~5 × 1000/16 ms
  const full = s.pick(input(pods, { text: hot + 'q2', perf, inflight: busy, prefilling: decodingOnly, batchCaps: { a: 16, b: 16, c: 16 } }))!
  t.not(full.pod.name, home, 'batch full: spills to a pod with a free slot')
  const nearlyFull = s.pick(input(pods, { text: hot + 'q3', perf, inflight: { [home]: 14 }, prefilling: decodingOnly, batchCaps: { a: 16, b: 16, c: 16 } }))!
  t.equal(nearlyFull.pod.name, home, 'a free slot left: stays')
})
