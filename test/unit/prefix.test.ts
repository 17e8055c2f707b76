import t from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { cacheAwareStrategy, prefixCacheStrategy } from '../../src/routing/prefix-cache.js'
import { blockHashes, createHasher, PrefixIndex } from '../../src/routing/prefix/prefix-index.js'
import { input, pod } from '../helpers/routing.js'

const cfg = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } } }).routing.prefixCache
const pods = [pod('a'), pod('b'), pod('c')]
const system = 'You are a helpful assistant for ACME. '.repeat(40) // ~1.5 KB shared prefix

t.test('chained block hashes: equal prefixes share leading hashes, and only them', async (t) => {
  const hash = await createHasher()
  const x = blockHashes(system + 'question one', 128, hash)
  const y = blockHashes(system + 'another question entirely', 128, hash)
  const shared = Math.floor(system.length / 128)
  t.same(x.slice(0, shared), y.slice(0, shared))
  t.equal(blockHashes('short', 128, hash).length, 0, 'a partial block is not indexed')
  const z = blockHashes('X' + system.slice(1), 128, hash)
  t.not(z[shared - 1], x[shared - 1], 'a change early changes every later hash (chained)')
})

t.test('prefix index: longest leading match per pod, bounded by maxBlocks', async (t) => {
  const hash = await createHasher()
  const idx = new PrefixIndex({ maxBlocks: 1000, ttlMs: 60_000 })
  const h = blockHashes(system, 128, hash)
  idx.insert(h.slice(0, 5), 'a')
  idx.insert(h, 'b')
  t.same(Object.fromEntries(idx.match(h, new Set(['a', 'b', 'c']))), { a: 5, b: h.length })
  t.same(Object.fromEntries(idx.match(h, new Set(['a']))), { a: 5 }, 'only candidate pods count')
  for (let i = 0; i < 5000; i++) idx.insert([BigInt(i) * 7919n + 13n], 'c')
  t.equal(idx.size, 1000, 'LRU keeps the index bounded')
})

t.test('prefix index memory at its bound (200k blocks) stays small', async (t) => {
  const idx = new PrefixIndex({ maxBlocks: 200_000, ttlMs: 60_000 })
  global.gc?.()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 400_000; i++) idx.insert([BigInt(i) * 1_000_003n], `ns/pod-${i % 8}`)
  const mb = (process.memoryUsage().heapUsed - before) / 2 ** 20
  t.equal(idx.size, 200_000)
  t.ok(mb < 150, `~${mb.toFixed(0)} MB for 200k blocks`)
  t.comment(`prefix index at 200k blocks: ~${mb.toFixed(0)} MB heap`)
})

t.test('prefix-cache (AIBrix): follows the prefix, unless that pod is too loaded', async (t) => {
  const s = prefixCacheStrategy(cfg, await createHasher())
  const first = s.pick(input(pods, { text: system + 'q1', inflight: { a: 1, c: 1 } }))!
  t.equal(first.pod.name, 'b', 'no match: least loaded')
  t.equal(first.prefixMatch, 0)
  const again = s.pick(input(pods, { text: system + 'q2', inflight: { b: 2, a: 1, c: 1 } }))!
  t.equal(again.pod.name, 'b', 'longest match within mean + 2σ')
  t.ok(again.prefixMatch! > 0.9)
  const skewed = s.pick(input(pods, { text: system + 'q3', inflight: { b: 30, a: 1, c: 2 } }))!
  t.equal(skewed.pod.name, 'a', 'imbalance > 16: least loaded')
})

t.test('cache-aware: stays while queueing is cheaper than recomputing the prefix', async (t) => {
  const s = cacheAwareStrategy(cfg, await createHasher())
  const long = 'S'.repeat(40_000) // ~10k tokens of shared context
  const perf = { a: { prefillMsPerToken: 0.05, ttftMs: 50 }, b: { prefillMsPerToken: 0.05, ttftMs: 50 }, c: { prefillMsPerToken: 0.05, ttftMs: 50 } }
  const home = s.pick(input(pods, { text: long + 'turn 1', perf }))!.pod.name
  t.equal(s.pick(input(pods, { text: long + 'turn 2', perf, inflight: { [home]: 5 } }))!.pod.name, home, '5 queued × 50 ms < 500 ms of prefill')
  const moved = s.pick(input(pods, { text: long + 'turn 3', perf, inflight: { [home]: 20 } }))!
  t.not(moved.pod.name, home, '20 queued × 50 ms > 500 ms of prefill: recompute elsewhere')
  const short = s.pick(input(pods, { text: 'tiny', perf, inflight: { a: 1, b: 0, c: 2 } }))!
  t.equal(short.pod.name, 'b', 'nothing to reuse: least queue')
})

t.test('cache-aware scores a heterogeneous cluster by measured speed', async (t) => {
  const s = cacheAwareStrategy(cfg, await createHasher())
  const perf = { a: { prefillMsPerToken: 0.12, ttftMs: 120 }, b: { prefillMsPerToken: 0.02, ttftMs: 25 }, c: { prefillMsPerToken: 0.05, ttftMs: 50 } }
  t.equal(s.pick(input(pods, { text: 'x'.repeat(4000), perf }))!.pod.name, 'b')
})
