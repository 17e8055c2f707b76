import t from 'tap'
import OpenAI from 'openai'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { spawnCli, writeConfig, type CliProcess } from '../helpers/gateway.js'

// The built CLI with a config file, two simulated pods, and the official OpenAI client.
let sims: SimServer[]
let cli: CliProcess
let client: OpenAI

t.before(async () => {
  sims = await Promise.all([0, 1].map(() => startSim({ model: 'llama-3-8b', loras: ['sql-lora'], timeScale: 0.01 })))
  const file = writeConfig({
    server: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
    discovery: {
      static: {
        models: [
          { name: 'llama-3-8b', adapters: ['sql-lora'], endpoints: [sims[0].address, { address: sims[1].address, name: 'pod-b', labels: { gpu: 'h100' } }] }
        ]
      }
    },
    routing: { defaultStrategy: 'least-request' }
  })
  cli = await spawnCli(['--config', file])
  client = new OpenAI({ baseURL: `${cli.url}/v1`, apiKey: 'unused', maxRetries: 0 })
})

t.teardown(async () => {
  await cli?.stop()
  await Promise.all(sims.map((s) => s.close()))
})

t.test('chat completion', async (t) => {
  const res = await client.chat.completions.create({ model: 'llama-3-8b', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 4 })
  t.equal(res.object, 'chat.completion')
  t.equal(res.choices[0].message.role, 'assistant')
  t.equal(res.choices[0].message.content?.trim().split(' ').length, 4)
  t.equal(res.usage?.completion_tokens, 4)
})

t.test('response headers name the pod and strategy', async (t) => {
  const { response } = await client.chat.completions
    .create({ model: 'llama-3-8b', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }, { headers: { 'x-request-id': 'my-req.1' } })
    .withResponse()
  t.equal(response.headers.get('request-id'), 'my-req.1')
  t.equal(response.headers.get('routing-strategy'), 'least-request')
  t.match(response.headers.get('target-pod'), /^(127\.0\.0\.1:\d+|pod-b)$/)
  t.match(response.headers.get('target-pod-ip'), /^127\.0\.0\.1:\d+$/)
  t.equal(response.headers.get('x-went-into-req-headers'), 'true')
})

t.test('legacy completions', async (t) => {
  const res = await client.completions.create({ model: 'llama-3-8b', prompt: 'Once upon a time', max_tokens: 3 })
  t.equal(res.object, 'text_completion')
  t.equal(res.choices[0].text.trim().split(' ').length, 3)
})

t.test('streaming without include_usage: no usage reaches the client', async (t) => {
  const stream = await client.chat.completions.create({ model: 'llama-3-8b', messages: [{ role: 'user', content: 'count' }], max_tokens: 5, stream: true })
  let text = ''
  let chunks = 0
  for await (const c of stream) {
    chunks++
    t.notOk('usage' in c && c.usage, 'no usage in any chunk')
    t.ok(c.choices.length > 0, 'no usage-only chunk')
    text += c.choices[0]?.delta?.content ?? ''
  }
  t.equal(text.trim().split(' ').length, 5)
  t.equal(chunks, 6, 'role chunk + 5 token chunks')
})

t.test('streaming with include_usage: the usage event arrives', async (t) => {
  const stream = await client.chat.completions.create({
    model: 'llama-3-8b',
    messages: [{ role: 'user', content: 'count' }],
    max_tokens: 3,
    stream: true,
    stream_options: { include_usage: true }
  })
  let usage: OpenAI.CompletionUsage | null | undefined
  for await (const c of stream) if (c.usage) usage = c.usage
  t.equal(usage?.completion_tokens, 3)
  t.equal(usage?.total_tokens, (usage?.prompt_tokens ?? 0) + 3)
})

t.test('streaming legacy completions', async (t) => {
  const stream = await client.completions.create({ model: 'sql-lora', prompt: 'SELECT', max_tokens: 2, stream: true })
  let text = ''
  for await (const c of stream) text += c.choices[0]?.text ?? ''
  t.equal(text.trim().split(' ').length, 2)
})

t.test('embeddings (the client asks for base64)', async (t) => {
  const res = await client.embeddings.create({ model: 'llama-3-8b', input: ['a', 'b'] })
  t.equal(res.data.length, 2)
  t.equal(res.data[0].embedding.length, 16)
  const norm = Math.hypot(...res.data[0].embedding)
  t.ok(Math.abs(norm - 1) < 1e-4, 'unit vector')
})

t.test('LoRA adapter routes to the base model pods', async (t) => {
  const res = await client.chat.completions.create({ model: 'sql-lora', messages: [{ role: 'user', content: 'q' }], max_tokens: 1 })
  t.equal(res.model, 'sql-lora')
})

t.test('model listing includes adapters', async (t) => {
  const list = await client.models.list()
  const ids = list.data.map((m) => m.id).sort()
  t.same(ids, ['llama-3-8b', 'sql-lora'])
  t.equal(list.data[0].object, 'model')
})

t.test('unknown model surfaces as NotFoundError', async (t) => {
  await t.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), { status: 404, code: 'model_not_found' })
})

t.test('least-request spreads concurrent requests over both pods', async (t) => {
  const pods = new Set<string>()
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      const { response } = await client.chat.completions.create({ model: 'llama-3-8b', messages: [{ role: 'user', content: 'x' }], max_tokens: 20 }).withResponse()
      pods.add(String(response.headers.get('target-pod')))
    })
  )
  t.equal(pods.size, 2)
})
