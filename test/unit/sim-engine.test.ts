import t from 'tap'
import { KvCache } from '../../src/sim/kv-cache.js'
import { BLOCK_TOKENS, SimEngine } from '../../src/sim/engine.js'
import { gpuProfile } from '../../src/sim/profiles.js'
import { tokenBlockHashes } from '../../src/routing/prefix/block-hash.js'
import { tokenize } from '../../src/sim/text.js'
import { startSim } from '../../src/sim/server.js'
import { parseVllmMetrics } from '../../src/telemetry/pod-metrics.js'
import { chat, post } from '../helpers/http.js'

const engine = (kvTokens: number, maxBatch = 64) => new SimEngine({ model: 'm', profile: gpuProfile('a100'), timeScale: 0, kvTokens, maxBatch })
const run = (e: SimEngine, hashes: number[], prompt: number, out: number, signal = new AbortController().signal) => e.generate(hashes, prompt, out, signal, { onToken: () => undefined })
const ids = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => i + 1 + offset * 1_000_000)

t.test('KV cache: shared prefix blocks are held once and kept for reuse (LRU)', async (t) => {
  const kv = new KvCache(10)
  t.equal(kv.acquire(ids(4), 1), 0, 'cold')
  t.equal(kv.acquire(ids(4), 1), 4, 'the same prefix while held: 4 hits')
  t.equal(kv.usage, 6 / 10, '4 shared + 2 private blocks')
  kv.release(ids(4), 1)
  kv.release(ids(4), 1)
  t.equal(kv.usage, 0)
  t.equal(kv.cachedPrefix(ids(4)), 4, 'released blocks stay cached')
  t.equal(kv.acquire(ids(8, 1), 2), 0, 'another prompt fits by evicting idle blocks')
  t.equal(kv.cachedPrefix(ids(4)), 0, 'the idle prefix was evicted for it')
  t.equal(kv.acquire(ids(1, 2), 1), undefined, 'no room while 10 blocks are held')
})

t.test('engine: a repeated prefix is served from the cache', async (t) => {
  const e = engine(100_000)
  const system = tokenize('You are the support assistant of ACME. '.repeat(50))
  const a = [...system, ...tokenize('first question')]
  const b = [...system, ...tokenize('another question')]
  const first = await run(e, tokenBlockHashes(a, BLOCK_TOKENS), a.length, 4)
  const second = await run(e, tokenBlockHashes(b, BLOCK_TOKENS), b.length, 4)
  t.equal(first.cachedTokens, 0)
  t.equal(second.cachedTokens, Math.floor(system.length / BLOCK_TOKENS) * BLOCK_TOKENS, 'every full block of the shared prefix')
  const metrics = await e.metrics.metrics()
  t.match(metrics, new RegExp(`vllm:prefix_cache_hits_total\\{model_name="m"\\} ${second.cachedTokens}`))
  t.match(metrics, new RegExp(`vllm:prefix_cache_queries_total\\{model_name="m"\\} ${a.length + b.length}`))
})

t.test('engine: requests wait when the batch or the KV cache is full, then all finish', async (t) => {
  const e = engine(16 * 20, 2) // 20 blocks, 2 running at most
  const jobs = Array.from({ length: 6 }, (_, i) => run(e, ids(4, i + 10), 64, 8))
  await new Promise((r) => setImmediate(r))
  t.equal(e.stats.running, 2)
  t.equal(e.stats.waiting, 4)
  t.match(await e.metrics.metrics(), /vllm:num_requests_waiting\{model_name="m"\} 4/)
  const results = await Promise.all(jobs)
  t.ok(results.every((r) => !r.aborted))
  t.same(e.stats, { running: 0, waiting: 0, kvUsage: 0 })
})

t.test('engine: a cache that fills during decoding preempts and recomputes', async (t) => {
  const e = engine(16 * 12, 8) // 12 blocks
  const outputs = await Promise.all([0, 1, 2].map((i) => run(e, ids(2, i + 20), 32, 64)))
  t.ok(outputs.every((r) => !r.aborted), 'all finish despite preemption')
  t.match(await e.metrics.metrics(), /vllm:num_preemptions_total\{model_name="m"\} [1-9]/)
  t.equal(e.stats.kvUsage, 0)
})

t.test('engine: abort frees the slot and the blocks', async (t) => {
  const e = new SimEngine({ model: 'm', profile: gpuProfile('a100'), timeScale: 1, kvTokens: 1600 })
  const ac = new AbortController()
  const job = run(e, ids(4, 30), 64, 10_000, ac.signal)
  await new Promise((r) => setTimeout(r, 20))
  t.equal(e.stats.running, 1)
  ac.abort()
  t.same(await job, { aborted: true, cachedTokens: 0 })
  t.same(e.stats, { running: 0, waiting: 0, kvUsage: 0 })
})

t.test('HTTP: cached_tokens in usage; too large for the KV cache → 400', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0, kvTokens: 4096 })
  t.teardown(() => sim.close())
  const body = { model: 'm', messages: [{ role: 'system', content: 'Shared instructions. '.repeat(40) }, { role: 'user', content: 'q' }], max_tokens: 2 }
  await (await post(`${sim.url}/v1/chat/completions`, body)).json()
  const again = (await (await post(`${sim.url}/v1/chat/completions`, body)).json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } }
  t.ok(again.usage.prompt_tokens_details.cached_tokens > 100)
  const huge = await post(`${sim.url}/v1/chat/completions`, chat('m', { max_tokens: 5000 }))
  t.equal(huge.status, 400)
  const tok = (await (await post(`${sim.url}/tokenize`, { model: 'm', prompt: 'hello world' })).json()) as { count: number }
  t.equal(tok.count, 2, 'the BPE tokenizer: "hello world" is 2 tokens')
})

t.test('HTTP /sim/reset: a cold cache and zeroed counters, with the info gauges kept', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0, kvTokens: 4096, loras: ['a'] })
  t.teardown(() => sim.close())
  const body = { model: 'm', messages: [{ role: 'system', content: 'Shared instructions. '.repeat(40) }, { role: 'user', content: 'q' }], max_tokens: 2 }
  const cached = async () => ((await (await post(`${sim.url}/v1/chat/completions`, body)).json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } }).usage.prompt_tokens_details.cached_tokens
  await cached()
  t.ok((await cached()) > 100, 'warm')
  t.equal((await fetch(`${sim.url}/sim/reset`, { method: 'POST' })).status, 204)
  const m = parseVllmMetrics(await (await fetch(`${sim.url}/metrics`)).text(), 0)
  t.equal(m.promptTokens, 0, 'counters start again from zero')
  t.equal(m.kvCapacityTokens, 4096, 'vllm:cache_config_info survives: the gateway still sizes KV in tokens')
  t.same(m.runningAdapters, [], 'vllm:lora_requests_info survives')
  t.equal(m.maxLora, 1)
  t.equal(await cached(), 0, 'the prefix cache is cold')
})

t.test('engine LoRA: at most maxLoras adapters per batch; others wait while base requests go ahead', async (t) => {
  const e = new SimEngine({ model: 'm', profile: gpuProfile('a100'), timeScale: 0, kvTokens: 16_000, maxBatch: 8, maxLoras: 1 })
  const order: string[] = []
  const job = (name: string, adapter: string | undefined, offset: number) =>
    e.generate(ids(2, offset), 32, 8, new AbortController().signal, { onToken: () => undefined }, adapter).then(() => order.push(name))
  const jobs = [job('a1', 'lora-a', 40), job('b1', 'lora-b', 41), job('base', undefined, 42), job('a2', 'lora-a', 43)]
  await new Promise((r) => setImmediate(r))
  t.equal(e.stats.running, 3, 'a1, base and a2 run; b1 waits for a slot')
  t.equal(e.stats.waiting, 1)
  t.match(await e.metrics.metrics(), /vllm:lora_requests_info\{max_lora="1",running_lora_adapters="lora-a",waiting_lora_adapters="lora-b"\}/)
  await Promise.all(jobs)
  t.equal(order.at(-1), 'b1', 'lora-b runs once lora-a has left the batch')
  t.match(await e.metrics.metrics(), /sim:lora_loads_total\{model_name="m"\} 2/, 'a and b loaded once each')
  await job('a3', 'lora-a', 44)
  t.match(await e.metrics.metrics(), /sim:lora_loads_total\{model_name="m"\} 3/, 'b evicted a from the only slot: a loads again')
})

t.test('HTTP LoRA: an adapter has its own KV blocks', async (t) => {
  const sim = await startSim({ model: 'm', loras: ['sql'], timeScale: 0, kvTokens: 16_000 })
  t.teardown(() => sim.close())
  const messages = [{ role: 'system', content: 'Shared instructions. '.repeat(40) }, { role: 'user', content: 'q' }]
  const cached = async (model: string) =>
    ((await (await post(`${sim.url}/v1/chat/completions`, { model, messages, max_tokens: 2 })).json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } }).usage.prompt_tokens_details.cached_tokens
  t.equal(await cached('m'), 0)
  t.equal(await cached('sql'), 0, 'the base model cached this prompt, not the adapter')
  t.ok((await cached('sql')) > 100, 'the adapter reuses its own blocks')
  t.ok((await cached('m')) > 100)
})
