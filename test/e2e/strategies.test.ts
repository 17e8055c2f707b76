import t from 'tap'
import OpenAI from 'openai'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { startBadBackend } from '../helpers/backends.js'
import { eventually } from '../helpers/eventually.js'
import { startGateway } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'

// Every strategy name of SPEC §7 routes real requests through the gateway to simulated pods.
let sims: SimServer[]
let gw: Awaited<ReturnType<typeof startGateway>>

t.before(async () => {
  sims = await Promise.all(['l4', 'a100', 'h100'].map((gpu) => startSim({ model: 'm', loras: ['lora-x'], gpu, timeScale: 0 })))
  gw = await startGateway({
    discovery: { static: { models: [{ name: 'm', adapters: ['lora-x'], endpoints: sims.map((s, i) => ({ address: s.address, name: `pod-${i}`, labels: { gpu: ['l4', 'a100', 'h100'][i] } })) }] } },
    routing: { explain: true },
    telemetry: { scrapeIntervalMs: 100 },
    rateLimit: { unknownUser: 'default' }
  })
})
t.teardown(async () => {
  await gw.close()
  await Promise.all(sims.map((s) => s.close()))
})

const names = ['random', 'least-request', 'throughput', 'prefix-cache', 'least-kv-cache', 'least-gpu-cache', 'least-latency', 'session-affinity', 'vtc-basic', 'power-of-two', 'least-busy-time', 'cache-aware', 'least-request:2,least-kv-cache:1']

for (const name of names) {
  t.test(`routing-strategy: ${name}`, async (t) => {
    for (const stream of [false, true]) {
      const res = await post(`${gw.url}/v1/chat/completions`, chat('m', { max_tokens: 3, stream }), { 'routing-strategy': name, user: 'alice' })
      t.equal(res.status, 200)
      t.equal(res.headers.get('routing-strategy'), name)
      t.match(res.headers.get('target-pod'), /^pod-[012]$/)
      t.match(res.headers.get('x-routing-reason'), /pod=pod-[012]/)
      await res.arrayBuffer()
    }
  })
}

t.test('session-affinity: the response names the session; the next request sticks', async (t) => {
  const first = await post(`${gw.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { 'routing-strategy': 'session-affinity' })
  await first.arrayBuffer()
  const sid = first.headers.get('x-session-id')!
  t.equal(Buffer.from(sid, 'base64').toString(), first.headers.get('target-pod-ip'))
  for (let i = 0; i < 5; i++) {
    const res = await post(`${gw.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { 'routing-strategy': 'session-affinity', 'x-session-id': sid })
    await res.arrayBuffer()
    t.equal(res.headers.get('target-pod'), first.headers.get('target-pod'))
  }
})

t.test('prefix strategies keep a conversation on one pod and report the match', async (t) => {
  for (const name of ['prefix-cache', 'cache-aware']) {
    const history = [{ role: 'system', content: `Policy document for ${name}. `.repeat(60) }]
    const pods = new Set<string | null>()
    let reason = ''
    for (let turn = 0; turn < 4; turn++) {
      history.push({ role: 'user', content: `question ${turn}` })
      const res = await post(`${gw.url}/v1/chat/completions`, { model: 'm', messages: history, max_tokens: 2 }, { 'routing-strategy': name })
      await res.arrayBuffer()
      pods.add(res.headers.get('target-pod'))
      reason = res.headers.get('x-routing-reason') ?? ''
      history.push({ role: 'assistant', content: 'answer' })
    }
    t.equal(pods.size, 1, `${name}: one pod for the whole conversation`)
    t.match(reason, /prefix/)
  }
  const metrics = await (await fetch(`${gw.url}/metrics`)).text()
  t.match(metrics, /brixgate_prefix_match_ratio_count\{strategy="cache-aware"\} \d+/)
})

t.test('scraped metrics reach the strategies; the openai client works with a mix', async (t) => {
  // least-kv-cache explains from scraped values once the scraper has run
  await eventually(async () => {
    const res = await post(`${gw.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { 'routing-strategy': 'least-kv-cache' })
    await res.arrayBuffer()
    return /kv=\d/.test(res.headers.get('x-routing-reason') ?? '')
  }, 5000, 'kv usage in the routing reason')
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0, defaultHeaders: { 'routing-strategy': 'throughput:1,least-latency:1' } })
  const r = await client.chat.completions.create({ model: 'lora-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })
  t.equal(r.model, 'lora-x')
})

t.test('cache-aware exact-token mode: matches on the pods\' token ids; falls back to text blocks', async (t) => {
  const exact = await startGateway({
    discovery: { static: { models: [{ name: 'm', endpoints: sims.map((s, i) => ({ address: s.address, name: `pod-${i}` })) }] } },
    routing: { explain: true, defaultStrategy: 'cache-aware', prefixCache: { exactTokens: true } },
    telemetry: { scrapeIntervalMs: 50 }
  })
  t.teardown(() => exact.close())
  // the pods' KV block size (vllm:cache_config_info) is read from scraped metrics
  await eventually(async () => /block_size="16"/.test(await (await fetch(`http://${sims[0].address}/metrics`)).text()))
  const history = [{ role: 'system', content: 'Exact-token policy text. '.repeat(80) }]
  const reasons: string[] = []
  const pods = new Set<string | null>()
  for (let turn = 0; turn < 3; turn++) {
    history.push({ role: 'user', content: `question ${turn}` })
    const res = await post(`${exact.url}/v1/chat/completions`, { model: 'm', messages: history, max_tokens: 2 })
    t.equal(res.status, 200)
    await res.arrayBuffer()
    pods.add(res.headers.get('target-pod'))
    reasons.push(res.headers.get('x-routing-reason') ?? '')
    history.push({ role: 'assistant', content: 'answer' })
  }
  t.match(reasons[0], /^cache-aware token prefix=0%/)
  const later = Number(/token prefix=(\d+)%/.exec(reasons[2])?.[1])
  t.ok(later >= 90, `third turn: ${later}% of its token blocks matched`)
  t.equal(pods.size, 1, 'the conversation stays on one pod')
  t.match(await (await fetch(`${exact.url}/metrics`)).text(), /brixgate_tokenize_requests_total\{outcome="ok"\} 3/)

  // a backend without a vLLM /tokenize: the request still routes, on text blocks
  const plain = await startBadBackend()
  const fallback = await startGateway({
    discovery: { static: { models: [{ name: 'echo', endpoints: [plain.address] }] } },
    routing: { explain: true, defaultStrategy: 'cache-aware', prefixCache: { exactTokens: true } }
  })
  t.teardown(async () => {
    await fallback.close()
    await plain.close()
  })
  const res = await post(`${fallback.url}/v1/chat/completions`, chat('echo'))
  t.equal(res.status, 200)
  await res.arrayBuffer()
  t.match(res.headers.get('x-routing-reason'), /^cache-aware prefix=/)
  t.match(await (await fetch(`${fallback.url}/metrics`)).text(), /brixgate_tokenize_requests_total\{outcome="failed"\} 1/)
})

t.test('prefix keys per adapter through the gateway: two adapters sharing a system prompt do not share index entries', async (t) => {
  const sims2 = await Promise.all([0, 1].map(() => startSim({ model: 'base', loras: ['lora-a', 'lora-b'], timeScale: 0 })))
  const local = await startGateway({
    discovery: { static: { models: [{ name: 'base', adapters: ['lora-a', 'lora-b'], endpoints: sims2.map((s, i) => ({ address: s.address, name: `pod-${i}` })) }] } },
    routing: { explain: true, defaultStrategy: 'prefix-cache' }
  })
  t.teardown(async () => {
    await local.close()
    await Promise.all(sims2.map((s) => s.close()))
  })
  const system = 'You answer questions about the ACME product catalogue. '.repeat(30)
  const send = async (model: string, q: string) => {
    const res = await post(`${local.url}/v1/chat/completions`, { model, messages: [{ role: 'system', content: system }, { role: 'user', content: q }], max_tokens: 2 })
    await res.arrayBuffer()
    return res.headers.get('x-routing-reason') ?? ''
  }
  t.match(await send('lora-a', 'q1'), /no prefix match/)
  t.match(await send('lora-a', 'q2'), /prefix match \d+\/\d+ blocks/, 'the same adapter matches its prompt')
  t.match(await send('lora-b', 'q3'), /no prefix match/, 'another adapter does not: its KV cache is its own')
})
