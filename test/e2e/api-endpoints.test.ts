import t, { type Test } from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { startGateway } from '../helpers/gateway.js'
import { expectOpenAIError, post } from '../helpers/http.js'
import { errorTypeForStatus } from '../../src/errors/catalogue.js'
import { eventually } from '../helpers/eventually.js'

// Every endpoint beyond chat/completions/embeddings, through an in-process gateway in front of
// three simulated pods, with the official clients: openai for responses, @anthropic-ai/sdk for
// messages, fetch for vLLM's own rerank/score/tokenize/detokenize.
const MODEL = 'llama-3-8b'
let sims: SimServer[]
let gw: Awaited<ReturnType<typeof startGateway>>
let openai: OpenAI

/** The tokens in `user`'s window after one more small chat request (whose own usage is taken off). */
async function windowTokensBefore(user: string): Promise<number> {
  const res = await post(`${gw.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }, { user })
  const body = (await res.json()) as { usage: { total_tokens: number } }
  return Number(res.headers.get('x-update-tpm')) - body.usage.total_tokens
}

/** An error answer in the envelope (status, its type, debug headers), whose message matches; resolves the whole body. */
async function expectError(t: Test, res: Response, want: { status: number; code?: string; headers?: Record<string, string>; message?: RegExp }): Promise<Record<string, unknown>> {
  const whole = (await res.clone().json()) as Record<string, unknown>
  const error = await expectOpenAIError(t, res, { status: want.status, type: errorTypeForStatus(want.status), code: want.code, headers: want.headers })
  if (want.message) t.match(error.message, want.message)
  return whole
}

t.before(async () => {
  sims = await Promise.all([0, 1, 2].map(() => startSim({ model: MODEL, timeScale: 0.01 })))
  gw = await startGateway({
    discovery: { static: { models: [{ name: MODEL, endpoints: sims.map((s) => s.address) }] } },
    routing: { defaultStrategy: 'random' },
    rateLimit: { unknownUser: 'default', defaultLimits: { rpm: 10_000, tpm: 10_000_000 } }
  })
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 })
})

t.teardown(async () => {
  await gw?.close()
  await Promise.all(sims.map((s) => s.close()))
})

t.test('/v1/responses, not streamed: the openai client gets a response with output_text, and its usage counts for TPM', async (t) => {
  const user = 'responses-whole'
  const res = await openai.responses.create({ model: MODEL, input: 'Tell me a story', max_output_tokens: 5 }, { headers: { user } })
  t.equal(res.object, 'response')
  t.match(res.id, /^resp_/)
  t.equal(res.status, 'completed')
  t.equal(res.output_text.trim().split(' ').length, 5)
  t.equal(res.usage?.output_tokens, 5)
  t.ok((res.usage?.input_tokens ?? 0) > 0)
  t.equal(await windowTokensBefore(user), res.usage?.total_tokens, 'the TPM window holds this response\'s total_tokens')
})

t.test('/v1/responses, streamed: events pass through untouched and the usage of response.completed counts for TPM', async (t) => {
  const user = 'responses-stream'
  const stream = await openai.responses.create({ model: MODEL, input: 'Count to three', max_output_tokens: 4, stream: true }, { headers: { user } })
  const types: string[] = []
  let text = ''
  let total: number | undefined
  for await (const ev of stream) {
    types.push(ev.type)
    if (ev.type === 'response.output_text.delta') text += ev.delta
    if (ev.type === 'response.completed') total = ev.response.usage?.total_tokens
  }
  t.equal(types[0], 'response.created')
  t.equal(types.at(-1), 'response.completed')
  t.equal(types.filter((x) => x === 'response.output_text.delta').length, 4)
  t.equal(text.trim().split(' ').length, 4)
  t.ok(total && total > 4)
  await eventually(async () => (await windowTokensBefore(user)) === total, 2000, 'stream usage settled')
  t.pass('the TPM window holds the stream\'s total_tokens')
})

t.test('/v1/responses: previous_response_id goes back to the pod holding the conversation', async (t) => {
  // random routing over three pods: without the pin two follow-ups in three would reach a pod that never stored the response (404)
  let previous = await openai.responses.create({ model: MODEL, input: 'Hello', max_output_tokens: 2 })
  const { response: first } = await openai.responses.create({ model: MODEL, input: 'Hello again', max_output_tokens: 2 }).withResponse()
  t.ok(first.headers.get('target-pod'))
  const pods = new Set<string>()
  for (let i = 0; i < 8; i++) {
    const stream = i % 2 === 1
    const { data, response } = stream
      ? await (async () => {
          const s = await openai.responses.create({ model: MODEL, input: `turn ${i}`, max_output_tokens: 2, previous_response_id: previous.id, stream: true }).withResponse()
          let done: OpenAI.Responses.Response | undefined
          for await (const ev of s.data) if (ev.type === 'response.completed') done = ev.response
          return { data: done!, response: s.response }
        })()
      : await openai.responses.create({ model: MODEL, input: `turn ${i}`, max_output_tokens: 2, previous_response_id: previous.id }).withResponse()
    t.equal(data.previous_response_id, previous.id, `turn ${i} continued the conversation`)
    pods.add(response.headers.get('target-pod') ?? '')
    previous = data
  }
  t.equal(pods.size, 1, 'every turn went to one pod')
})

t.test('/v1/responses: a previous_response_id no pod holds is the pod\'s 404, and bad bodies are 400 in the envelope', async (t) => {
  const err = await openai.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_unknown' }).catch((e: unknown) => e)
  t.type(err, OpenAI.NotFoundError)
  t.match((err as InstanceType<typeof OpenAI.NotFoundError>).message, /resp_unknown/)
  await expectError(t, await post(`${gw.url}/v1/responses`, { model: MODEL }), { status: 400, headers: { 'x-error-request-body-processing': 'true' }, message: /input/ })
  await expectError(t, await post(`${gw.url}/v1/responses`, { model: 'nope', input: 'x' }), { status: 404, code: 'model_not_found' })
})

t.test('/v1/messages with the Anthropic SDK: whole and streamed, usage from its own fields', async (t) => {
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 })
  const user = 'anthropic-user'
  const msg = await anthropic.messages.create({ model: MODEL, max_tokens: 3, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi there' }] }, { headers: { user } })
  t.equal(msg.type, 'message')
  t.equal(msg.content[0].type, 'text')
  t.equal(msg.usage.output_tokens, 3)
  const afterWhole = await windowTokensBefore(user)
  t.equal(afterWhole, msg.usage.input_tokens + msg.usage.output_tokens, 'input + output tokens count for TPM')

  const stream = anthropic.messages.stream({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'Stream please' }] }, { headers: { user } })
  let text = ''
  stream.on('text', (d) => (text += d))
  const final = await stream.finalMessage()
  t.equal(text.trim().split(' ').length, 4)
  t.equal(final.usage.output_tokens, 4)
  const used = final.usage.input_tokens + final.usage.output_tokens
  // the window now also holds the probe request windowTokensBefore sent
  await eventually(async () => (await windowTokensBefore(user)) >= afterWhole + used, 2000, 'stream usage settled')
  t.pass('the streamed message\'s tokens count for TPM')
})

t.test('/v1/messages errors: the Anthropic SDK reads the typed envelope', async (t) => {
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 })
  const err = await anthropic.messages.create({ model: 'missing-model', max_tokens: 3, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)
  t.type(err, Anthropic.NotFoundError)
  t.match((err as Error).message, /missing-model/)
  const res = await post(`${gw.url}/v1/messages`, { model: MODEL, messages: [{ role: 'user', content: 'x' }] })
  const body = await expectError(t, res, { status: 400, message: /max_tokens/ })
  t.equal(body.type, 'error', 'top-level type, as Anthropic sends it')
})

t.test('/v1/rerank (and /rerank): documents by relevance, usage counted', async (t) => {
  for (const path of ['/v1/rerank', '/rerank', '/v2/rerank']) {
    const res = await post(`${gw.url}${path}`, { model: MODEL, query: 'capital of France', documents: ['Berlin is in Germany', 'Paris is the capital of France', 'Bananas'], top_n: 2 })
    t.equal(res.status, 200, path)
    t.ok(res.headers.get('target-pod'))
    const body = (await res.json()) as { results: { index: number; relevance_score: number }[]; usage: { total_tokens: number } }
    t.equal(body.results.length, 2)
    t.equal(body.results[0].index, 1, 'the matching document ranks first')
    t.ok(body.usage.total_tokens > 0)
  }
  await expectError(t, await post(`${gw.url}/v1/rerank`, { model: MODEL, query: 'q' }), { status: 400, headers: { 'x-error-request-body-processing': 'true' }, message: /documents/ })
  await expectError(t, await post(`${gw.url}/v1/rerank`, { model: MODEL, query: 'q', documents: ['a'], stream: true }), { status: 400, message: /Streaming is not supported/ })
})

t.test('/v1/score: one score per pair', async (t) => {
  const res = await post(`${gw.url}/v1/score`, { model: MODEL, text_1: 'fast cars', text_2: ['fast red cars', 'slow boats'] })
  t.equal(res.status, 200)
  const body = (await res.json()) as { data: { index: number; score: number }[] }
  t.equal(body.data.length, 2)
  t.ok(body.data[0].score > body.data[1].score)
  await expectError(t, await post(`${gw.url}/v1/score`, { model: MODEL, text_1: 'x' }), { status: 400, message: /text_2/ })
})

t.test('/v1/tokenize and /v1/detokenize reach vLLM\'s /tokenize and /detokenize and round-trip', async (t) => {
  const tok = await post(`${gw.url}/v1/tokenize`, { model: MODEL, prompt: 'Hello brixgate world' })
  t.equal(tok.status, 200)
  const { tokens, count } = (await tok.json()) as { tokens: number[]; count: number }
  t.equal(count, tokens.length)
  t.ok(count > 0)
  const detok = await post(`${gw.url}/detokenize`, { model: MODEL, tokens })
  t.same(await detok.json(), { prompt: 'Hello brixgate world' })
  await expectError(t, await post(`${gw.url}/v1/tokenize`, { model: MODEL }), { status: 400, message: /prompt/ })
  await expectError(t, await post(`${gw.url}/v1/detokenize`, { model: MODEL, tokens: 'abc' }), { status: 400, message: /tokens/ })
  const wrongMethod = await fetch(`${gw.url}/v1/tokenize`)
  t.equal(wrongMethod.status, 405)
})
