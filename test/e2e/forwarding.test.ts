import t from 'tap'
import OpenAI from 'openai'
import { startSim } from '../../src/sim/server.js'
import { startBadBackend, type BadBackend } from '../helpers/backends.js'
import { startGateway } from '../helpers/gateway.js'
import { chat, expectOpenAIError, post } from '../helpers/http.js'
import { sseChunk, startPod } from '../helpers/pods.js'

let backend: BadBackend
t.before(async () => {
  backend = await startBadBackend()
})
t.teardown(() => backend.close())

const echoGateway = (extra: Record<string, unknown> = {}) =>
  startGateway({ discovery: { static: { models: [{ name: 'echo', endpoints: [backend.address] }] } }, ...extra })

t.test('a 200 KB prompt is forwarded byte for byte', async (t) => {
  const gw = await echoGateway()
  t.teardown(gw.close)
  const raw = `{"model":"echo",  "messages":[{"role":"user","content":"${'é'.repeat(100_000)}"}], "temperature": 0.50}`
  const res = await post(`${gw.url}/v1/chat/completions`, raw)
  t.equal(res.status, 200)
  await res.arrayBuffer()
  t.ok(backend.seen.at(-1)!.body.equals(Buffer.from(raw)), 'identical bytes, spacing and number formatting kept')
})

t.test('request headers: x-request-id sent, hop-by-hop and client credentials dropped', async (t) => {
  const gw = await echoGateway()
  t.teardown(gw.close)
  const res = await post(`${gw.url}/v1/chat/completions`, chat('echo'), {
    authorization: 'Bearer client-secret',
    'x-request-id': 'trace-42',
    'x-custom': 'kept'
  })
  const body = (await res.json()) as { received: { headers: Record<string, string> } }
  const h = body.received.headers
  t.equal(h['x-request-id'], 'trace-42')
  t.equal(h['x-custom'], 'kept')
  t.notOk(h.authorization, 'client key not forwarded')
  t.notOk(h['transfer-encoding'] && h['content-length'], 'never both framing headers')
  t.equal(res.headers.get('x-backend-header'), 'kept', 'response header relayed')
  t.notOk(res.headers.get('x-drop-me'), 'response header named in Connection dropped')
})

t.test('invalid x-request-id is replaced by a UUID', async (t) => {
  const gw = await echoGateway()
  t.teardown(gw.close)
  const res = await post(`${gw.url}/v1/chat/completions`, chat('echo'), { 'x-request-id': 'bad id with spaces' })
  await res.arrayBuffer()
  t.match(res.headers.get('request-id'), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(backend.seen.at(-1)!.headers['x-request-id'], res.headers.get('request-id'))
})

t.test('upstreamApiKey is sent to pods as the bearer token', async (t) => {
  const gw = await echoGateway({ auth: { upstreamApiKey: 'pod-key-123' } })
  t.teardown(gw.close)
  const body = (await (await post(`${gw.url}/v1/chat/completions`, chat('echo'), { authorization: 'Bearer client' })).json()) as {
    received: { headers: Record<string, string> }
  }
  t.equal(body.received.headers.authorization, 'Bearer pod-key-123')
})

t.test('strategy that cannot pick a pod → 503 x-error-routing', async (t) => {
  const gw = await startGateway(
    { discovery: { static: { models: [{ name: 'echo', endpoints: [backend.address] }] } } },
    { strategies: [{ name: 'never', pick: () => undefined }] }
  )
  t.teardown(gw.close)
  await expectOpenAIError(t, await post(`${gw.url}/v1/chat/completions`, chat('echo'), { 'routing-strategy': 'never' }), {
    status: 503,
    type: 'overloaded_error',
    headers: { 'x-error-routing': 'true' }
  })
})

t.test('connect failure on one pod is retried on another', async (t) => {
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'echo', endpoints: ['127.0.0.1:1', backend.address] }] } } }, { random: () => 0 })
  t.teardown(gw.close)
  const res = await post(`${gw.url}/v1/chat/completions`, chat('echo'))
  t.equal(res.status, 200)
  t.equal(res.headers.get('target-pod'), backend.address)
  await res.arrayBuffer()
})

t.test('API keys: 401 without or with a wrong key, 403 when user disagrees', async (t) => {
  const gw = await echoGateway({
    auth: { apiKeys: [{ key: 'sk-alice-0001', user: 'alice' }, { keySha256: '5bd3f0c7b4c1e5ec1e8b9a1a7c3d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d', user: 'bob' }] },
    rateLimit: { users: [{ name: 'alice', rpm: 100, tpm: 100000 }] }
  })
  t.teardown(gw.close)
  const url = `${gw.url}/v1/chat/completions`
  await expectOpenAIError(t, await post(url, chat('echo')), { status: 401, type: 'authentication_error', code: 'invalid_api_key' })
  await expectOpenAIError(t, await post(url, chat('echo'), { authorization: 'Bearer sk-wrong-key' }), { status: 401, type: 'authentication_error', code: 'invalid_api_key' })
  await expectOpenAIError(t, await post(url, chat('echo'), { authorization: 'Bearer sk-alice-0001', user: 'bob' }), {
    status: 403,
    type: 'permission_error',
    headers: { 'x-error-user': 'true' }
  })
  const ok = await post(url, chat('echo'), { authorization: 'Bearer sk-alice-0001' })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('x-update-rpm'), '1', 'the key identifies alice for limits')
  await ok.arrayBuffer()
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-wrong-key', maxRetries: 0 })
  const err = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)
  t.equal((err as Error).constructor.name, 'AuthenticationError')
  t.equal((err as { code?: string }).code, 'invalid_api_key')
})

t.test('rate-limit store down: fail open with x-error-incr-rpm, or closed with 503', async (t) => {
  const redis = { store: 'redis', redis: { url: 'redis://127.0.0.1:1', commandTimeoutMs: 50 }, users: [{ name: 'u', rpm: 5, tpm: 1000 }] }
  const open = await echoGateway({ rateLimit: redis })
  t.teardown(open.close)
  const res = await post(`${open.url}/v1/chat/completions`, chat('echo'), { user: 'u' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-error-incr-rpm'), 'true')
  await res.arrayBuffer()
  const closed = await echoGateway({ rateLimit: { ...redis, onStoreError: 'closed' } })
  t.teardown(closed.close)
  await expectOpenAIError(t, await post(`${closed.url}/v1/chat/completions`, chat('echo'), { user: 'u' }), {
    status: 503,
    type: 'overloaded_error',
    headers: { 'x-error-incr-rpm': 'true' }
  })
})

t.test('per-model requestsPerSecond → 429 x-error-model-rps-exceeded', async (t) => {
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'echo', endpoints: [backend.address], requestsPerSecond: 2 }] } } }, { clock: () => 1_000_000 })
  t.teardown(gw.close)
  for (let i = 0; i < 2; i++) t.equal((await post(`${gw.url}/v1/chat/completions`, chat('echo'))).status, 200)
  await expectOpenAIError(t, await post(`${gw.url}/v1/chat/completions`, chat('echo')), {
    status: 429,
    type: 'rate_limit_error',
    headers: { 'x-error-model-rps-exceeded': 'true' }
  })
})

t.test('500 concurrent streams relay with no lost, duplicated or reordered bytes', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0, maxModelLen: 100_000 })
  const direct = await startSim({ model: 'm', timeScale: 0, maxModelLen: 100_000 })
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [sim.address] }] } } })
  t.teardown(async () => {
    await gw.close()
    await sim.close()
    await direct.close()
  })
  const tokens = 50
  const normalise = (s: string) => s.replace(/"id":"[^"]+"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0')
  const body = (i: number) => chat('m', { messages: [{ role: 'user', content: `prompt ${i}` }], stream: true, max_tokens: tokens })
  const expected = await Promise.all(Array.from({ length: 500 }, async (_, i) => normalise(await (await post(`${direct.url}/v1/chat/completions`, body(i))).text())))
  const got = await Promise.all(Array.from({ length: 500 }, async (_, i) => normalise(await (await post(`${gw.url}/v1/chat/completions`, body(i))).text())))
  let same = 0
  for (let i = 0; i < 500; i++) if (got[i] === expected[i]) same++
  t.equal(same, 500, 'every stream identical to what the pod sends directly')
  t.equal(gw.gateway.inflight.total(), 0)
})

t.test('a pod that streams an answer the client did not ask to stream: the events are relayed as they were', async (t) => {
  const pod = await startPod((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(sseChunk('one') + sseChunk('two') + 'data: [DONE]\n\n')
  })
  t.teardown(() => pod.close())
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  t.teardown(gw.close)
  const res = await post(`${gw.url}/v1/chat/completions`, chat('m'))
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /text\/event-stream/)
  t.equal(await res.text(), sseChunk('one') + sseChunk('two') + 'data: [DONE]\n\n')
})

t.test('a stream request the pod answers with JSON: an error goes back whole, an answer as it came', async (t) => {
  // vLLM refuses a bad streaming request with a JSON 400 before any event
  const pod = await startPod((_req, res, _body, n) => {
    if (n === 0) {
      res.writeHead(400, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', code: 400 }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id: 'chatcmpl-j', object: 'chat.completion', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }))
  })
  t.teardown(() => pod.close())
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  t.teardown(gw.close)
  const refused = await post(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }))
  t.equal(refused.status, 400)
  t.equal(refused.headers.get('x-error-streaming'), 'true')
  const error = (await refused.json()) as { error: { message: string } }
  t.match(error.error.message, /max_tokens is too large/)
  const answered = await post(`${gw.url}/v1/chat/completions`, chat('m', { stream: true }))
  t.equal(answered.status, 200)
  t.same(((await answered.json()) as { id: string }).id, 'chatcmpl-j')
})
