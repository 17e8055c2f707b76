import t, { type Test } from 'tap'
import OpenAI from 'openai'
import { startGateway } from '../helpers/gateway.js'
import { chat, expectOpenAIError, post } from '../helpers/http.js'
import { answerJson, answerStream, sseChunk, startPod, type PodHandler, type ScriptedPod } from '../helpers/pods.js'

// SPEC §11: until the client has received a byte, a failed pod is replaced by another one.

const model = 'm'

async function cluster(t: Test, handlers: PodHandler[], extra: Record<string, unknown> = {}) {
  const pods: ScriptedPod[] = []
  for (const h of handlers) pods.push(await startPod(h))
  const gw = await startGateway({
    discovery: { static: { models: [{ name: model, endpoints: pods.map((p, i) => ({ address: p.address, name: `pod-${i}` })) }] } },
    routing: { defaultStrategy: 'least-request' },
    ...extra
  })
  t.teardown(async () => {
    await gw.close()
    for (const p of pods) await p.close()
  })
  return { pods, gw, url: gw.url }
}

const ok: PodHandler = (_req, res, body) => {
  const stream = JSON.parse(body.toString()).stream === true
  if (stream) answerStream(res, body, ['Hel', 'lo'])
  else answerJson(res, 'ok-pod')
}
const status = (code: number): PodHandler => (_req, res) => {
  res.writeHead(code, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ error: { message: `busy ${code}`, type: 'ServiceUnavailable', param: null, code } }))
}
const reset: PodHandler = (req) => void req.socket.destroy()
const hang: PodHandler = () => undefined
const errorFirstEvent: PodHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  res.end(`data: ${JSON.stringify({ error: { message: 'engine overloaded', type: 'InternalServerError', param: null, code: 500 } })}\n\n`)
}

const target = (res: Response) => res.headers.get('target-pod')
const metric = async (url: string, line: RegExp) => (await (await fetch(`${url}/metrics`)).text()).match(line)?.[1]

for (const [name, bad] of [['503', status(503)], ['429', status(429)], ['a reset', reset]] as const) {
  t.test(`a pod answering ${name} → the client gets another pod's answer, with x-retry-count`, async (t) => {
    const { url } = await cluster(t, [bad, ok, ok])
    // least-request with equal load picks at random: send until the bad pod was hit once
    for (let i = 0; i < 30; i++) {
      const res = await post(`${url}/v1/chat/completions`, chat(model))
      t.equal(res.status, 200, `request ${i} succeeds`)
      const body = (await res.json()) as { choices: { message: { content: string } }[] }
      t.equal(body.choices[0].message.content, 'from ok-pod')
      if (res.headers.get('x-retry-count') === '1') {
        t.not(target(res), 'pod-0', 'the answer names the pod that served it')
        t.match(await metric(url, /brixgate_upstream_retries_total\{cause="(?:status_5xx|status_429|reset)"\} (\d+)/), /^[1-9]/)
        return
      }
    }
    t.fail('the bad pod was never tried')
  })
}

t.test('a stream whose first event is an error is failed over; the client sees only the good answer', async (t) => {
  const { url } = await cluster(t, [errorFirstEvent, ok])
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 })
  for (let i = 0; i < 10; i++) {
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    t.equal(text, 'Hello')
  }
})

t.test('no first byte within firstByteTimeoutMs → another pod, streamed and not; the hung pod is ejected', async (t) => {
  const { url, pods } = await cluster(t, [hang, ok], { upstream: { firstByteTimeoutMs: 150 } })
  // picks among equally loaded pods are random: send until the hung pod has timed out 3 times
  for (let i = 0; i < 60 && pods[0].requests < 3; i++) {
    const res = await post(`${url}/v1/chat/completions`, chat(model, { stream: i % 2 === 0 }))
    t.equal(res.status, 200)
    t.equal(target(res), 'pod-1')
    await res.arrayBuffer()
  }
  t.equal(pods[0].requests, 3)
  t.match(await metric(url, /brixgate_outlier_ejections_total\{reason="failures"\} (\d+)/), '1', 'ejected after 3 consecutive timeouts')
  for (let i = 0; i < 10; i++) await (await post(`${url}/v1/chat/completions`, chat(model))).arrayBuffer()
  t.equal(pods[0].requests, 3, 'no request reaches it while ejected')
})

t.test('a first-byte deadline of a second or more (undici\'s header timer) fails a non-stream request over, not before the deadline', async (t) => {
  const { url, pods } = await cluster(t, [hang, ok], { upstream: { firstByteTimeoutMs: 1000 } })
  // picks among equally loaded pods are random: send until one went to the hung pod first
  for (let i = 0; i < 30 && pods[0].requests === 0; i++) {
    const started = Date.now()
    const res = await post(`${url}/v1/chat/completions`, chat(model))
    const ms = Date.now() - started
    t.equal(res.status, 200)
    t.equal(target(res), 'pod-1')
    await res.arrayBuffer()
    if (res.headers.get('x-retry-count') === '1') {
      t.ok(ms >= 1000, `failed over after the deadline (${ms} ms)`)
      t.ok(ms < 5000, `and within about a second of it (${ms} ms)`)
    }
  }
  t.equal(pods[0].requests, 1, 'the hung pod got one request')
  t.match(await metric(url, /brixgate_upstream_retries_total\{cause="first_byte_timeout"\} (\d+)/), '1', 'counted as a first-byte timeout')
})

t.test('every pod fails → the last pod\'s own error; x-retry-count says how many others were tried', async (t) => {
  const { url } = await cluster(t, [status(503), status(503), status(503)])
  const res = await post(`${url}/v1/chat/completions`, chat(model))
  t.equal(res.headers.get('x-retry-count'), '2')
  await expectOpenAIError(t, res, { status: 503, type: 'ServiceUnavailable', headers: { 'x-error-response-unknown': 'true' } })
})

t.test('a request that resets two pods is answered 502 and not retried again (poison guard)', async (t) => {
  const { url, pods } = await cluster(t, [reset, reset, reset], { upstream: { retry: { attempts: 5 } } })
  const res = await post(`${url}/v1/chat/completions`, chat(model))
  await expectOpenAIError(t, res, { status: 502, type: 'api_error', code: 'poison_request', headers: { 'x-error-poison-request': 'true' } })
  t.equal(pods.reduce((n, p) => n + p.requests, 0), 2, 'only two pods saw it')
  t.equal(await metric(url, /brixgate_poison_requests_total (\d+)/), '1')
})

t.test('after a byte went to the client nothing is retried: a cut stream ends with one error event', async (t) => {
  const cut: PodHandler = async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(sseChunk('partial'))
    await new Promise((r) => setTimeout(r, 20))
    res.socket?.destroy()
  }
  const { url, pods } = await cluster(t, [cut, cut])
  const res = await post(`${url}/v1/chat/completions`, chat(model, { stream: true }))
  t.equal(res.status, 200)
  const text = await res.text()
  t.match(text, /partial/)
  t.equal(text.match(/"error"/g)?.length, 1, 'one error event')
  t.equal(pods[0].requests + pods[1].requests, 1, 'one pod saw it')
})

t.test('the retry budget caps retries: past it, the pod\'s error goes to the client', async (t) => {
  const { url } = await cluster(t, [status(500), status(500)], { upstream: { retry: { attempts: 1, budgetPercent: 0 }, outlier: { consecutiveFailures: 1000 } } })
  const results = []
  for (let i = 0; i < 6; i++) {
    const res = await post(`${url}/v1/chat/completions`, chat(model))
    results.push(res.headers.get('x-retry-count'))
    await res.arrayBuffer()
  }
  t.same(results.filter((r) => r === '1').length, 3, 'the budget floor (3 retries per 10 s) and no more')
})

t.test('keep-alive comments while waiting for the first event; the official client ignores them', async (t) => {
  // as vLLM does, headers at once, the first event after a long prefill
  const slow: PodHandler = async (_req, res, body) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.flushHeaders()
    await new Promise((r) => setTimeout(r, 700))
    answerStream(res, body, ['late'])
  }
  const { url } = await cluster(t, [slow], { upstream: { keepAliveSeconds: 0.2 } })
  const raw = await (await post(`${url}/v1/chat/completions`, chat(model, { stream: true }))).text()
  t.ok((raw.match(/^: keep-alive$/gm)?.length ?? 0) >= 2, 'comment lines came first')
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true })
  let text = ''
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
  t.equal(text, 'late')
})

t.test('an ejected pod gets traffic again only after its /health probe answers', async (t) => {
  const { url, pods } = await cluster(t, [status(500), ok], { upstream: { outlier: { consecutiveFailures: 1, baseEjectionMs: 200 } } })
  pods[0].healthStatus = 503
  // until pod-0 is hit once (then it is ejected)
  for (let i = 0; i < 20 && pods[0].requests === 0; i++) await (await post(`${url}/v1/chat/completions`, chat(model))).arrayBuffer()
  t.equal(pods[0].requests, 1)
  await new Promise((r) => setTimeout(r, 600))
  for (let i = 0; i < 10; i++) await (await post(`${url}/v1/chat/completions`, chat(model))).arrayBuffer()
  t.equal(pods[0].requests, 1, 'its probe fails: still out')
  pods[0].healthStatus = 200
  await new Promise((r) => setTimeout(r, 1200))
  for (let i = 0; i < 20 && pods[0].requests === 1; i++) await (await post(`${url}/v1/chat/completions`, chat(model))).arrayBuffer()
  t.equal(pods[0].requests, 2, 'back after a healthy probe')
})

t.test('every pod at upstream.maxInflightPerPod → 503 saturated with Retry-After, the others are served', async (t) => {
  const slow: PodHandler = async (_req, res) => {
    await new Promise((r) => setTimeout(r, 300))
    answerJson(res, 'slow')
  }
  const { url, pods } = await cluster(t, [slow, slow], { upstream: { maxInflightPerPod: 1 } })
  const responses = await Promise.all(Array.from({ length: 3 }, () => post(`${url}/v1/chat/completions`, chat(model))))
  const statuses = responses.map((r) => r.status).sort()
  t.same(statuses, [200, 200, 503])
  const refused = responses.find((r) => r.status === 503)!
  await expectOpenAIError(t, refused, { status: 503, type: 'overloaded_error', headers: { 'x-error-unavailable-reason': 'saturated', 'retry-after': /^\d+$/ } })
  t.equal(pods[0].requests + pods[1].requests, 2, 'no pod got a second request')
})

t.test('a retry elsewhere leaves only the pod that served in the prefix index', async (t) => {
  const { url } = await cluster(t, [status(503), ok], { routing: { defaultStrategy: 'prefix-cache' }, upstream: { outlier: { consecutiveFailures: 1000 } } })
  const system = 'You are the support assistant of a large shop. '.repeat(30)
  for (let tenant = 0; tenant < 30; tenant++) {
    const prompt = `tenant ${tenant} ${system}`
    const first = await post(`${url}/v1/chat/completions`, { model, messages: [{ role: 'system', content: prompt }, { role: 'user', content: 'q1' }] })
    await first.arrayBuffer()
    if (first.headers.get('x-retry-count') !== '1') continue
    // the failed pod was picked first for this prompt; it must not look like it holds the prompt now
    for (let i = 0; i < 5; i++) {
      const next = await post(`${url}/v1/chat/completions`, { model, messages: [{ role: 'system', content: prompt }, { role: 'user', content: `q${i + 2}` }] })
      await next.arrayBuffer()
      t.equal(next.headers.get('x-retry-count'), null, 'no retry: routed straight to the pod that served')
      t.equal(target(next), 'pod-1')
    }
    return
  }
  t.fail('the failing pod was never picked first')
})

t.test('a weighted mix with a prefix strategy is accepted and keeps a conversation on one pod', async (t) => {
  const { url } = await cluster(t, [ok, ok, ok])
  const system = 'You are a travel agent who plans trips. '.repeat(30)
  const pods = new Set<string | null>()
  for (let i = 0; i < 6; i++) {
    const res = await post(`${url}/v1/chat/completions`, { model, messages: [{ role: 'system', content: system }, { role: 'user', content: `q${i}` }] }, { 'routing-strategy': 'prefix-cache:2,least-request:1' })
    t.equal(res.status, 200)
    await res.arrayBuffer()
    pods.add(target(res))
  }
  t.equal(pods.size, 1, 'one pod for the shared prefix')
})
