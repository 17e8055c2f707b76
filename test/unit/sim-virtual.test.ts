import t from 'tap'
import { configSchema } from '../../src/config/schema.js'
import { builtinStrategies } from '../../src/routing/registry.js'
import { VirtualClock } from '../../src/sim/clock.js'
import { SimEngine } from '../../src/sim/engine.js'
import { gpuProfile } from '../../src/sim/profiles.js'
import { VirtualCluster, type VirtualOutcome } from '../../src/sim/virtual-cluster.js'

const strategy = (name: string) => builtinStrategies(configSchema.shape.routing.parse({})).find((s) => s.name === name)!

t.test('virtual clock: events run in time order, equal times first in first out, promise callbacks in between', async (t) => {
  const clock = new VirtualClock()
  const log: string[] = []
  clock.after(20, () => log.push(`b@${clock.now()}`))
  clock.after(10, () => {
    log.push(`a@${clock.now()}`)
    void Promise.resolve().then(() => log.push('a.then'))
    clock.after(10, () => log.push(`c@${clock.now()}`)) // due with b, scheduled after it
  })
  clock.after(50, () => log.push('late'))
  await clock.run(30)
  t.same(log, ['a@10', 'a.then', 'b@20', 'c@20'])
  t.equal(clock.now(), 30, 'the clock stands at the end of the window')
  await clock.run()
  t.same(log.at(-1), 'late')
  t.equal(clock.now(), 50)
})

t.test('engine on a virtual clock: latencies are exactly what the profile says', async (t) => {
  const clock = new VirtualClock()
  const p = gpuProfile('a100')
  const e = new SimEngine({ model: 'm', profile: p, timeScale: 1, kvTokens: 100_000, clock })
  let firstAt: number | undefined
  const hashes = Array.from({ length: 62 }, (_, i) => i + 1) // 62 full blocks of a 1000-token prompt
  const result = e.generate(hashes, 1000, 10, new AbortController().signal, { onFirstToken: () => (firstAt = clock.now()), onToken: () => undefined })
  await clock.run()
  const end = clock.now()
  t.notOk((await result).aborted)
  const step = 0.5 // the engine's fixed cost per scheduler step
  const ttft = step + p.overheadMs + 1000 * p.prefillMsPerToken
  t.equal(firstAt, ttft, 'one prefill step: step cost + request overhead + 1000 × prefill cost')
  t.ok(Math.abs(end - (ttft + 9 * (step + p.decodeMsPerToken))) < 1e-9, 'then 9 decode steps of a batch of one')
})

/** Sends `bodies` one every `gapMs` (simulated) and runs the cluster until every request ended. */
async function replay(cluster: VirtualCluster, bodies: object[], gapMs: number): Promise<VirtualOutcome[]> {
  const done: Promise<VirtualOutcome>[] = []
  bodies.forEach((body, i) => cluster.clock.after(i * gapMs, () => done.push(cluster.send(body).done)))
  await cluster.clock.run(bodies.length * gapMs + 10_000)
  return Promise.all(done)
}

const system = (tenant: number) => `You are the assistant of tenant ${tenant}. `.repeat(150)
const tenantRequests = Array.from({ length: 40 }, (_, i) => ({
  model: 'm',
  messages: [
    { role: 'system', content: system(i % 4) },
    { role: 'user', content: `question ${i}` }
  ],
  max_tokens: 8,
  stream: true
}))
const cluster = (name: string, seed = 1) => new VirtualCluster({ model: 'm', gpus: ['a100', 'a100', 'a100', 'a100'], kvTokens: 20_000, strategy: strategy(name), scrapeIntervalMs: 100, staleAfterMs: 1000, seed })

t.test('virtual cluster: the same seed gives the same run; strategies differ as they should', async (t) => {
  const ttfts = async (name: string, seed = 1) => (await replay(cluster(name, seed), tenantRequests, 20)).map((o) => (o.firstTokenAt as number) - o.sentAt)
  const a = await ttfts('random')
  t.same(await ttfts('random'), a, 'deterministic')
  t.notSame(await ttfts('random', 2), a, 'another seed routes differently')
  const prefixCluster = cluster('prefix-cache')
  const outcomes = await replay(prefixCluster, tenantRequests, 20)
  t.ok(outcomes.every((o) => !o.failed && o.tokens === 8 && o.answer.length > 0), 'every request answered in full')
  const randomCluster = cluster('random')
  await replay(randomCluster, tenantRequests, 20)
  const [prefixHits, randomHits] = [await prefixCluster.hitRate(), await randomCluster.hitRate()]
  t.ok(prefixHits > 0.8, `prefix-cache keeps each tenant on one pod: hit rate ${prefixHits.toFixed(2)}`)
  t.ok(prefixHits > randomHits + 0.1, `random spreads tenants: hit rate ${randomHits.toFixed(2)}`)
})

t.test('virtual cluster: requests a pod cannot take fail instead of hanging', async (t) => {
  const c = cluster('least-request')
  const [unknown, tooLong] = await replay(c, [{ model: 'other', messages: [{ role: 'user', content: 'hi' }] }, { model: 'm', messages: [{ role: 'user', content: 'word '.repeat(30_000) }], max_tokens: 4 }], 10)
  t.ok(unknown.failed, 'no pod serves the model')
  t.ok(tooLong.failed, 'longer than a KV cache')
  t.equal(tooLong.tokens, 0)
})

t.test('virtual cluster: LoRA requests run on their adapter, base requests use the default output length', async (t) => {
  const c = new VirtualCluster({ model: 'm', gpus: ['a100', 'h100'], adapters: ['lora-a'], maxLoras: 1, strategy: strategy('least-request'), scrapeIntervalMs: 100, staleAfterMs: 1000, seed: 3 })
  const [lora, base] = await replay(c, [{ model: 'lora-a', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3 }, { model: 'm', messages: [{ role: 'user', content: 'hello' }] }], 5)
  t.equal(lora.tokens, 3)
  t.equal(base.tokens, 16, 'the simulator answers 16 tokens without max_tokens')
})
