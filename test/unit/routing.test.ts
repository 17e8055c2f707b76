import t from 'tap'
import { GatewayError } from '../../src/errors/catalogue.js'
import { leastRequestStrategy } from '../../src/routing/least-request.js'
import { BatchCaps, configuredCap, slotWaitMs } from '../../src/telemetry/batch-cap.js'
import { DispatchLog } from '../../src/telemetry/dispatch-log.js'
import { PodLoad } from '../../src/telemetry/pod-load.js'
import { leastBusyTimeStrategy, leastGpuCacheStrategy, leastKvCacheStrategy, leastLatencyStrategy, throughputStrategy } from '../../src/routing/load-strategies.js'
import { loraCandidates } from '../../src/routing/lora-affinity.js'
import { powerOfTwoStrategy } from '../../src/routing/power-of-two.js'
import { randomStrategy } from '../../src/routing/random.js'
import { builtinStrategies, StrategyRegistry } from '../../src/routing/registry.js'
import { sessionAffinityStrategy } from '../../src/routing/session-affinity.js'
import { vtcBasicStrategy } from '../../src/routing/vtc-basic.js'
import { parseConfig } from '../../src/config/load.js'
import { InflightTracker } from '../../src/telemetry/inflight.js'
import { decide, input, pod } from '../helpers/routing.js'

const pods = [pod('a'), pod('b'), pod('c')]
const picked = (d: { pod: { name: string } } | undefined) => d?.pod.name

t.test('random picks by the random source, covering every pod', async (t) => {
  t.equal(picked(randomStrategy.pick(input(pods, { random: () => 0 }))), 'a')
  t.equal(picked(randomStrategy.pick(input(pods, { random: () => 0.99 }))), 'c')
  const seen = new Set<string | undefined>()
  for (let i = 0; i < 200; i++) seen.add(picked(randomStrategy.pick(input(pods))))
  t.equal(seen.size, 3)
})

t.test('least-request picks the fewest in-flight, ties at random', async (t) => {
  t.equal(picked(leastRequestStrategy.pick(input(pods, { inflight: { a: 3, b: 1, c: 2 } }))), 'b')
  t.equal(picked(leastRequestStrategy.pick(input(pods, { inflight: { a: 1 }, random: () => 0 }))), 'b')
  t.equal(picked(leastRequestStrategy.pick(input(pods, { inflight: { a: 1 }, random: () => 0.9 }))), 'c')
})

t.test('least-kv-cache and least-gpu-cache read scraped usage, with fallbacks', async (t) => {
  const metrics = { a: { kvCacheUsage: 0.7, gpuCacheUsage: 0.7 }, b: { kvCacheUsage: 0.2, gpuCacheUsage: 0.9 }, c: { kvCacheUsage: 0.5, gpuCacheUsage: 0.1 } }
  t.equal(picked(leastKvCacheStrategy.pick(input(pods, { metrics }))), 'b')
  t.equal(picked(leastGpuCacheStrategy.pick(input(pods, { metrics }))), 'c')
  t.equal(picked(leastKvCacheStrategy.pick(input(pods, { inflight: { a: 2, b: 1, c: 3 } }))), 'b', 'no metrics: in-flight counts')
  t.equal(picked(leastKvCacheStrategy.pick(input(pods, { metrics: { c: { kvCacheUsage: 0.99 } }, inflight: {} }))), 'c', 'a pod with data beats pods without')
})

t.test('throughput and least-latency send more work to faster pods', async (t) => {
  const perf = { a: { tpotMs: 40, ttftMs: 120 }, b: { tpotMs: 10, ttftMs: 30 }, c: { tpotMs: 20, ttftMs: 60 } }
  t.equal(picked(throughputStrategy.pick(input(pods, { perf }))), 'b', 'idle: the fastest')
  t.equal(picked(throughputStrategy.pick(input(pods, { perf, inflight: { b: 3 } }))), 'c', 'b shared by 4 is slower than c alone')
  t.equal(picked(leastLatencyStrategy.pick(input(pods, { perf }))), 'b')
  t.equal(picked(leastLatencyStrategy.pick(input(pods, { perf, inflight: { b: 40 } }))), 'c', 'a long queue outweighs speed')
  const same = { tpotMs: 10, prefillTurnMs: 50 }
  t.equal(
    picked(leastLatencyStrategy.pick(input(pods, { perf: { a: same, b: same, c: { ...same, ttftMs: 5000 } }, inflight: { a: 5, b: 3, c: 0 }, prefilling: { a: 0, b: 2, c: 0 } }))),
    'c',
    'predicted from the prefill turn: a TTFT measured under a burst does not shun an idle pod'
  )
  t.equal(
    picked(leastLatencyStrategy.pick(input(pods.slice(0, 2), { perf: { a: same, b: same }, inflight: { a: 5, b: 3 }, prefilling: { a: 0, b: 2 } }))),
    'a',
    'each request waiting for its first token costs a prefill turn; decoding ones slow decoding by 1 % each'
  )
  // proportional share: route 1000 requests that never finish; faster pods end up with more
  const load: Record<string, number> = { a: 0, b: 0, c: 0 }
  for (let i = 0; i < 1000; i++) load[picked(throughputStrategy.pick(input(pods, { perf, inflight: load })))!]++
  t.ok(load.b > load.c && load.c > load.a, `load follows speed: ${JSON.stringify(load)}`)
  t.ok(Math.abs(load.b / load.a - 4) < 0.5, 'b gets ~4× the share of a (4× the speed)')
})

t.test('least-busy-time weighs in-flight requests by their measured duration', async (t) => {
  const perf = { a: { e2eMs: 100 }, b: { e2eMs: 1000 }, c: { e2eMs: 400 } }
  t.equal(picked(leastBusyTimeStrategy.pick(input(pods, { perf, inflight: { a: 5, b: 1, c: 1 } }))), 'c')
})

t.test('power-of-two prefers the less loaded of its two samples', async (t) => {
  let r = 0
  const seq = [0, 0.6] // a, then index 1 of the remaining → b
  const d = powerOfTwoStrategy.pick(input(pods, { inflight: { a: 5, b: 1 }, random: () => seq[r++ % 2] }))
  t.equal(picked(d), 'b')
})

t.test('session-affinity: sticky by x-session-id, rendezvous by x-aibrix-session-key', async (t) => {
  const first = sessionAffinityStrategy.pick(input(pods, { inflight: { a: 1, c: 1 } }))!
  t.equal(picked(first), 'b', 'new session → least loaded')
  const sid = first.headers!['x-session-id']
  t.equal(Buffer.from(sid, 'base64').toString(), pods[1].address)
  t.equal(picked(sessionAffinityStrategy.pick(input(pods, { headers: { 'x-session-id': sid }, inflight: { b: 9 } }))), 'b', 'sticks despite load')
  t.equal(picked(sessionAffinityStrategy.pick(input([pods[0], pods[2]], { headers: { 'x-session-id': sid } }))), 'a', 'pod gone → another')
  const key = { 'x-aibrix-session-key': 'user-42' }
  const home = picked(sessionAffinityStrategy.pick(input(pods, { headers: key })))
  for (let i = 0; i < 5; i++) t.equal(picked(sessionAffinityStrategy.pick(input(pods, { headers: key, inflight: { a: i } }))), home)
  const others = pods.filter((p) => p.name !== home)
  const moved = picked(sessionAffinityStrategy.pick(input([...others, pod('d')], { headers: key })))
  t.not(moved, home, 'rendezvous: the key moves only when its pod leaves')
})

t.test('vtc-basic spreads a heavy user across pods', async (t) => {
  const vtc = vtcBasicStrategy()
  const counts: Record<string, number> = {}
  for (let i = 0; i < 30; i++) {
    const d = vtc.pick(input(pods, { user: 'heavy' }))!
    counts[d.pod.name] = (counts[d.pod.name] ?? 0) + 1
    vtc.completed!({ pod: d.pod, user: 'heavy', promptTokens: 100, completionTokens: 100 })
  }
  t.same(Object.values(counts).sort(), [10, 10, 10])
})

t.test('LoRA affinity: pods running the adapter, then free slots, else all', async (t) => {
  const lora = [pod('a', { model: 'base' }), pod('b', { model: 'base' }), pod('c', { model: 'base' })]
  const stats = (metrics: Record<string, object>) => input(lora, { metrics }).stats
  t.same(loraCandidates('sql', lora, stats({ a: { runningAdapters: ['x'], maxLora: 1 }, b: { runningAdapters: ['sql'], maxLora: 2 } })).map((p) => p.name), ['b'])
  t.same(loraCandidates('sql', lora, stats({ a: { runningAdapters: ['x'], maxLora: 1 }, b: { runningAdapters: [], maxLora: 2 } })).map((p) => p.name), ['b'])
  t.equal(loraCandidates('sql', lora, stats({})).length, 3)
  t.equal(loraCandidates('base', lora, stats({ b: { runningAdapters: ['base'] } })).length, 3, 'base model: untouched')
})

t.test('registry: every SPEC §7 name, mixes, and 400 for anything else', async (t) => {
  const cfg = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } } })
  const reg = new StrategyRegistry(builtinStrategies(cfg.routing))
  for (const name of ['random', 'least-request', 'throughput', 'prefix-cache', 'least-kv-cache', 'least-gpu-cache', 'least-latency', 'session-affinity', 'vtc-basic', 'power-of-two', 'least-busy-time', 'cache-aware']) {
    t.ok(reg.resolve(name).pick(input(pods)), name)
  }
  const mix = reg.resolve('least-request:1,least-kv-cache:3')
  const metrics = { a: { kvCacheUsage: 0.9 }, b: { kvCacheUsage: 0.1 }, c: { kvCacheUsage: 0.5 } }
  t.equal(picked(mix.pick(input(pods, { metrics, inflight: { a: 0, b: 2, c: 1 } }))), 'b', 'kv weighted 3× beats in-flight')
  t.equal(picked(reg.resolve('least-request:5,least-kv-cache:1').pick(input(pods, { metrics, inflight: { a: 0, b: 2, c: 1 } }))), 'a')
  const status = (spec: string) => {
    try {
      reg.resolve(spec)
      return 200
    } catch (e) {
      t.ok(e instanceof GatewayError)
      t.match((e as GatewayError).headers, { 'x-error-invalid-routing-strategy': 'true', 'x-error-routing': 'true' })
      return (e as GatewayError).status
    }
  }
  t.equal(status('nope'), 400)
  t.equal(status('least-request:x'), 400)
  t.equal(status('least-request:-1'), 400)
  t.equal(status('nope:1,least-request:1'), 400)
  t.equal(status('random:1,least-request:1'), 400, 'random does not score pods')
})

t.test('in-flight tracker: release is idempotent', async (t) => {
  const tr = new InflightTracker()
  const r1 = tr.acquire('p')
  const r2 = tr.acquire('p')
  t.equal(tr.get('p'), 2)
  r1()
  r1()
  t.equal(tr.get('p'), 1)
  r2()
  t.equal(tr.total(), 0)
})

t.test('least-kv-cache adds what was routed to a pod since its scrape', async (t) => {
  const metrics = { a: { kvCacheUsage: 0.2, kvCapacityTokens: 10_000 }, b: { kvCacheUsage: 0.4, kvCapacityTokens: 10_000 } }
  t.equal(picked(leastKvCacheStrategy.pick(input(pods.slice(0, 2), { metrics }))), 'a')
  t.equal(picked(leastKvCacheStrategy.pick(input(pods.slice(0, 2), { metrics, routedTokens: { a: 3000 } }))), 'b', 'a: 0.2 + 3000/10000 = 0.5 > b: 0.4')
  t.equal(picked(leastGpuCacheStrategy.pick(input(pods.slice(0, 2), { metrics: { a: { gpuCacheUsage: 0.2 }, b: { gpuCacheUsage: 0.4 } }, routedTokens: { a: 3000 } }))), 'a', 'capacity unknown: the scraped value alone')
})

t.test('dispatch log: tokens routed after a time, pruned by age', async (t) => {
  const log = new DispatchLog(1000)
  log.record('p', 100, 10_000)
  log.record('p', 50, 10_500)
  log.record('q', 7, 10_500)
  t.equal(log.since('p', 9_999), 150)
  t.equal(log.since('p', 10_000), 50, 'strictly after the scrape')
  t.equal(log.since('x', 0), 0)
  log.record('p', 1, 11_200)
  t.equal(log.since('p', 0), 51, 'entries older than keepMs are dropped')
  const busy = new DispatchLog(100)
  for (let i = 0; i < 1000; i++) busy.record('p', 1, i)
  t.equal(busy.since('p', 950), 49, 'entries after 950')
  t.equal(busy.since('p', 0), 101, 'only the last 100 ms are kept (899..999)')
  t.equal(busy.since('p', 999), 0)
  const sameMs = new DispatchLog(1000)
  for (let i = 0; i < 500; i++) sameMs.record('p', 2, 5_000 + Math.floor(i / 100))
  sameMs.record('p', -3, 5_004)
  t.equal(sameMs.since('p', 4_999), 997, 'every entry of a millisecond counts')
  t.equal(sameMs.since('p', 5_002), 397, 'strictly after, at millisecond resolution')
  t.equal((sameMs as unknown as { pods: Map<string, { at: number[] }> }).pods.get('p')?.at.length, 5, 'one entry per millisecond')
  log.retain(new Set(['q']))
  t.equal(log.since('p', 0), 0, 'pods that are gone are forgotten')
  t.equal(log.since('q', 0), 7)
})

t.test('pod load: a routed request counts until its first byte and until it ends', async (t) => {
  let now = 1000
  const load = new PodLoad(new InflightTracker(), 10_000, () => now)
  const ticket = load.start('p', 300, 200)
  t.same([load.inflight.get('p'), load.prefilling.get('p'), load.prefillTokens('p')], [1, 1, 200])
  t.equal(load.kvTokensSince('p', 999), 300)
  t.equal(load.recentComputedTokens('p'), 200)
  ticket.firstByte()
  t.same([load.inflight.get('p'), load.prefilling.get('p'), load.prefillTokens('p')], [1, 0, 0], 'first byte: no longer prefilling')
  now = 2000
  ticket.release()
  ticket.release()
  t.equal(load.inflight.get('p'), 0)
  t.equal(load.kvTokensSince('p', 999), 0, 'routed and ended since: nets out, once')
  t.equal(load.kvTokensSince('p', 1500), -300, 'ended after a scrape at 1500: taken off')
  t.equal(load.recentComputedTokens('p'), 200, 'computed tokens stay for the window')
})

t.test('mixes of every scoring strategy, prefix-cache and cache-aware included, learn prefixes like their parts', async (t) => {
  const cfg = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } } })
  const reg = new StrategyRegistry(builtinStrategies(cfg.routing))
  const system = 'You are the ACME support assistant. '.repeat(40)
  for (const spec of ['prefix-cache:2,least-request:1', 'cache-aware:1,least-kv-cache:1']) {
    const mix = reg.resolve(spec)
    // five tenants: by chance alone a follow-up would land on its tenant's pod 1 time in 3
    for (let tenant = 0; tenant < 5; tenant++) {
      const prompt = `tenant ${tenant}: ${system}`
      const first = decide(mix, input(pods, { text: prompt + 'q1' }))!
      const again = mix.pick(input(pods, { text: prompt + 'q2' }))!
      t.equal(again.pod.name, first.pod.name, `${spec}, tenant ${tenant}: the prefix part keeps the conversation on its pod`)
    }
  }
})

t.test('batch caps are learned from scrapes that show a queue, and least-latency counts the wait for a slot', async (t) => {
  const caps = new BatchCaps()
  caps.observe('p', { at: 0, running: 12, waiting: 0 })
  t.equal(caps.get('p'), undefined, 'no queue: the batch was not full, nothing learned')
  caps.observe('p', { at: 1, running: 16, waiting: 3 })
  caps.observe('p', { at: 2, running: 9, waiting: 1 })
  t.equal(caps.get('p'), 16, 'the most running while others waited')
  t.equal(configuredCap({ 'brixgate.io/max-num-seqs': '256' }), 256, 'a pod label states the cap')
  t.equal(configuredCap({ 'brixgate.io/max-num-seqs': 'lots' }), undefined)
  t.equal(slotWaitMs(15, 16, 800), 0, 'a slot is free')
  t.equal(slotWaitMs(20, 16, 800), 250, '5 ahead beyond the cap, 16 finishing per 800 ms')
  const perf = { a: { tpotMs: 10, prefillTurnMs: 50, e2eMs: 1000 }, b: { tpotMs: 10, prefillTurnMs: 50, e2eMs: 1000 }, c: { tpotMs: 10, prefillTurnMs: 50, e2eMs: 1000 } }
  t.equal(picked(leastLatencyStrategy.pick(input(pods, { perf, inflight: { a: 16, b: 17, c: 18 }, batchCaps: { a: 16, b: 32, c: 32 } }))), 'b', 'a is full: its next request waits for a slot')
})
