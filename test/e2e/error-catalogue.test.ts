import t from 'tap'
import OpenAI from 'openai'
import { behaviours, SPLIT_STREAM_EVENTS, startBadBackend, type BadBackend } from '../helpers/backends.js'
import { spawnCli, writeConfig, type CliProcess } from '../helpers/gateway.js'
import { chat, expectOpenAIError, post } from '../helpers/http.js'

// Every row of SPEC §4 that a spawned gateway can show, against a misbehaving backend.
let backend: BadBackend
let resetting: BadBackend // its own address: resets take that address out of rotation
let cli: CliProcess
let base: string

t.before(async () => {
  backend = await startBadBackend()
  resetting = await startBadBackend()
  const models = Object.keys(behaviours).map((name) => ({ name, endpoints: [name === 'reset' ? resetting.address : backend.address] }))
  const file = writeConfig({
    server: { host: '127.0.0.1', port: 0, requestTimeoutMs: 400, streamIdleTimeoutMs: 400, bodyLimitBytes: 65536, logLevel: 'error' },
    discovery: { static: { models: [...models, { name: 'dead', endpoints: ['127.0.0.1:1'] }] } },
    rateLimit: { users: [{ name: 'rpm-user', rpm: 2, tpm: 1_000_000 }, { name: 'tpm-user', rpm: 100, tpm: 10 }] }
  })
  cli = await spawnCli(['--config', file])
  base = `${cli.url}/v1`
})

t.teardown(async () => {
  await cli?.stop()
  await backend?.close()
  await resetting?.close()
})

t.test('body not JSON → 400 x-error-request-body-processing', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, '{"model": '), {
    status: 400,
    type: 'invalid_request_error',
    headers: { 'x-error-request-body-processing': 'true' }
  })
})

t.test('body fails the schema → 400 x-error-request-body-processing', async (t) => {
  const err = await expectOpenAIError(t, await post(`${base}/chat/completions`, { model: 'echo', messages: 'hi' }), {
    status: 400,
    type: 'invalid_request_error',
    headers: { 'x-error-request-body-processing': 'true' }
  })
  t.equal(err.param, 'messages')
})

t.test('model missing or empty → 400 x-error-no-model-in-request', async (t) => {
  for (const body of [{ messages: [] }, { model: '', messages: [{ role: 'user', content: 'x' }] }]) {
    await expectOpenAIError(t, await post(`${base}/chat/completions`, body), {
      status: 400,
      type: 'invalid_request_error',
      headers: { 'x-error-no-model-in-request': 'true' }
    })
  }
})

t.test('unknown model → 404 model_not_found, x-error-no-model-backends: <model>', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('no-such-model')), {
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    headers: { 'x-error-no-model-backends': 'no-such-model' }
  })
})

t.test('unknown routing strategy → 400 with both routing headers', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('echo'), { 'routing-strategy': 'teleport' }), {
    status: 400,
    type: 'invalid_request_error',
    headers: { 'x-error-invalid-routing-strategy': 'true', 'x-error-routing': 'true' }
  })
})

t.test('embeddings refuse stream → 400', async (t) => {
  await expectOpenAIError(t, await post(`${base}/embeddings`, { model: 'echo', input: 'x', stream: true }), {
    status: 400,
    type: 'invalid_request_error',
    headers: { 'x-error-request-body-processing': 'true' }
  })
})

t.test('unregistered user → 403 x-error-user', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('echo'), { user: 'mallory' }), {
    status: 403,
    type: 'permission_error',
    headers: { 'x-error-user': 'true' }
  })
})

t.test('RPM exceeded → 429 rate_limit_exceeded, x-error-rpm-exceeded, Retry-After', async (t) => {
  for (let i = 1; i <= 2; i++) {
    const ok = await post(`${base}/chat/completions`, chat('echo'), { user: 'rpm-user' })
    t.equal(ok.status, 200)
    t.equal(ok.headers.get('x-update-rpm'), String(i))
    t.equal(ok.headers.get('x-ratelimit-limit-requests'), '2')
    t.equal(ok.headers.get('x-ratelimit-remaining-requests'), String(2 - i))
    await ok.arrayBuffer()
  }
  const res = await post(`${base}/chat/completions`, chat('echo'), { user: 'rpm-user' })
  t.match(res.headers.get('retry-after'), /^[1-9]\d*$/)
  t.ok(Number(res.headers.get('retry-after')) <= 60)
  await expectOpenAIError(t, res, { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded', headers: { 'x-error-rpm-exceeded': 'true' } })
})

t.test('TPM exceeded → 429 x-error-tpm-exceeded after usage is counted', async (t) => {
  const first = await post(`${base}/chat/completions`, chat('echo'), { user: 'tpm-user' })
  t.equal(first.status, 200)
  t.equal(first.headers.get('x-update-tpm'), '10', 'the echo backend reports 10 total tokens')
  await first.arrayBuffer()
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('echo'), { user: 'tpm-user' }), {
    status: 429,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    headers: { 'x-error-tpm-exceeded': 'true', 'retry-after': /^\d+$/ }
  })
})

t.test('upstream error statuses keep status, type, param and code', async (t) => {
  const flat = await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('flat-error')), {
    status: 400,
    type: 'BadRequestError',
    headers: { 'x-error-response-unknown': 'true' }
  })
  t.same([flat.message, flat.param, flat.code], ['flat: bad temperature', 'temperature', 400])
  const nested = await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('nested-error')), {
    status: 422,
    type: 'BadRequestError',
    headers: { 'x-error-response-unknown': 'true' }
  })
  t.same([nested.message, nested.param, nested.code], ['nested: bad top_p', 'top_p', 422])
  const text = await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('text-error')), {
    status: 500,
    type: 'api_error',
    headers: { 'x-error-response-unknown': 'true' }
  })
  t.equal(text.message, 'upstream exploded')
})

t.test('upstream 200 that is not JSON → 502 x-error-response-unmarshal', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('non-json-200')), {
    status: 502,
    type: 'api_error',
    headers: { 'x-error-response-unmarshal': 'true' }
  })
})

t.test('upstream timeout → 504', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('hang')), { status: 504, type: 'api_error', code: 'timeout' })
})

t.test('stream that fails before headers → error with x-error-streaming', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('hang', { stream: true })), {
    status: 504,
    type: 'api_error',
    headers: { 'x-error-streaming': 'true' }
  })
})

t.test('connection reset by the pod → 502 x-error-routing', async (t) => {
  await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('reset')), { status: 502, type: 'api_error', headers: { 'x-error-routing': 'true' } })
})

t.test('unreachable pod → 502 x-error-routing; after 3 consecutive failures it is ejected → 503 all-ejected', async (t) => {
  for (let i = 0; i < 3; i++) {
    await expectOpenAIError(t, await post(`${base}/chat/completions`, chat('dead')), { status: 502, type: 'api_error', headers: { 'x-error-routing': 'true' } })
  }
  const res = await post(`${base}/chat/completions`, chat('dead'))
  t.match(res.headers.get('retry-after'), /^\d+$/)
  await expectOpenAIError(t, res, { status: 503, type: 'overloaded_error', headers: { 'x-error-no-model-backends': 'true', 'x-error-unavailable-reason': 'all-ejected' } })
})

t.test('engine error after the 200 reaches the client as one SSE error event', async (t) => {
  const res = await post(`${base}/chat/completions`, chat('midstream-error', { stream: true }))
  t.equal(res.status, 200)
  const text = await res.text()
  const events = text.trim().split('\n\n')
  t.match(events.at(-1), /^data: \{"error":\{"message":"engine died"/)
  const client = new OpenAI({ baseURL: base, apiKey: 'x', maxRetries: 0 })
  const stream = await client.chat.completions.create({ model: 'midstream-error', messages: [{ role: 'user', content: 'x' }], stream: true })
  await t.rejects(async () => {
    for await (const _ of stream) void _
  }, /engine died/)
})

t.test('stream cut by the pod → the client gets one error event, then the end', async (t) => {
  const res = await post(`${base}/chat/completions`, chat('midstream-cut', { stream: true }))
  t.equal(res.status, 200)
  const events = (await res.text()).trim().split('\n\n')
  t.equal(events.length, 2)
  t.match(events[0], /"content":"partial"/)
  const err = JSON.parse(events[1].slice('data: '.length))
  t.equal(err.error.type, 'api_error')
  t.match(err.error.message, /ended abnormally/)
})

t.test('SSE frames split mid-line and mid-character are relayed intact', async (t) => {
  const res = await post(`${base}/chat/completions`, chat('split-sse', { stream: true, stream_options: { include_usage: true } }))
  const text = await res.text()
  t.ok(text.startsWith(SPLIT_STREAM_EVENTS.join('')), 'content events byte-identical')
  t.match(text, /"usage":\{"prompt_tokens":3/)
  const stripped = await (await post(`${base}/chat/completions`, chat('split-sse', { stream: true }))).text()
  t.equal(stripped, SPLIT_STREAM_EVENTS.join('') + 'data: [DONE]\n\n', 'the injected usage event is removed')
})

t.test('unknown path → 404, wrong method → 405, both OpenAI-shaped', async (t) => {
  await expectOpenAIError(t, await fetch(`${cli.url}/v1/nothing`), { status: 404, type: 'invalid_request_error' })
  const res = await fetch(`${base}/chat/completions`)
  t.equal(res.headers.get('allow'), 'POST')
  await expectOpenAIError(t, res, { status: 405, type: 'api_error' })
})

t.test('body over the limit → 413 OpenAI error', async (t) => {
  const big = JSON.stringify(chat('echo', { pad: 'x'.repeat(100_000) }))
  await expectOpenAIError(t, await post(`${base}/chat/completions`, big), { status: 413, type: 'api_error', headers: { 'x-error-request-body-processing': 'true' } })
})
