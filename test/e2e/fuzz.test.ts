/* eslint-disable no-control-regex -- the fuzzer sends control characters on purpose */
import { connect } from 'node:net'
import fc from 'fast-check'
import t from 'tap'
import { startGateway } from '../helpers/gateway.js'
import { answerJson, sseChunk, startPod } from '../helpers/pods.js'

// Property: whatever a client sends, every answer is a success or an OpenAI-shaped error, and the
// gateway keeps serving. The classes are the outsider probes of issue 16.

let gw: Awaited<ReturnType<typeof startGateway>>
let pod: Awaited<ReturnType<typeof startPod>>

t.before(async () => {
  pod = await startPod((_req, res, body) => {
    let stream = false
    try {
      stream = JSON.parse(body.toString()).stream === true
    } catch {
      // the gateway forwards only bodies it could parse
    }
    if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(sseChunk('ok') + 'data: [DONE]\n\n')
    } else answerJson(res, 'pod')
  })
  gw = await startGateway({
    server: { bodyLimitBytes: 256 * 1024, bodyTimeoutMs: 2000 },
    discovery: { static: { models: [{ name: 'm', endpoints: [pod.address], adapters: ['lora-a'] }] } },
    rateLimit: { users: [{ name: 'alice', rpm: 100000, tpm: 100000000 }] }
  })
})
t.teardown(async () => {
  await gw.close()
  await pod.close()
})

const anyJson = fc.jsonValue({ maxDepth: 4 })
const model = fc.oneof(fc.constantFrom('m', 'lora-a', '', 'unknown', '模型', '🙂', 'a\r\nb', '\u0000', 'x'.repeat(20_000)), fc.string(), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer(), fc.constant(null))
const messages = fc.oneof(fc.constant([{ role: 'user', content: 'hi' }]), fc.array(anyJson, { maxLength: 3 }), anyJson)
const streamOptions = fc.oneof(fc.constant(undefined), fc.constant(null), fc.record({ include_usage: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] }), anyJson)
const chatBody = fc.record(
  { model, messages, stream: fc.oneof(fc.boolean(), anyJson), stream_options: streamOptions, max_tokens: fc.oneof(fc.integer({ min: -5, max: 100 }), anyJson), extra: anyJson },
  { requiredKeys: [] }
)
const deep = fc.integer({ min: 1, max: 50_000 }).map((n) => `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{},"d":${'['.repeat(n)}${']'.repeat(n)}}`)
const body = fc.oneof(
  chatBody.map((b) => JSON.stringify(b)),
  deep,
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1')),
  // invalid UTF-8 inside an otherwise valid body
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.concat([Buffer.from('{"model":"'), Buffer.from(a.map((b) => b | 0x80)), Buffer.from('","messages":[{"role":"user","content":"hi"}]}')])),
  fc.constant(''),
  fc.constant('{"model":"m","messages":[{"role":"user","content":"' + 'x'.repeat(300 * 1024) + '"}]}')
)
const headerValue = fc.oneof(fc.constantFrom('random', 'least-request', 'prefix-cache', 'cache-aware', 'nope', 'least-request:2,random:1', 'a:b:c', ''), fc.stringMatching(/^[\x20-\x7e]{0,40}$/))
const headers = fc.record(
  {
    'routing-strategy': headerValue,
    user: fc.constantFrom('alice', 'bob', ''),
    'x-request-id': fc.stringMatching(/^[\x21-\x7e]{0,200}$/),
    'x-session-id': fc.stringMatching(/^[\x21-\x7e]{0,40}$/),
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded')
  },
  { requiredKeys: [] }
)
const path = fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models', '/v1/nope', '/admin/users', '/metrics')
const method = fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE')

function isOpenAIError(text: string): boolean {
  try {
    const e = (JSON.parse(text) as { error?: Record<string, unknown> }).error
    return typeof e === 'object' && e !== null && typeof e.message === 'string' && typeof e.type === 'string' && 'param' in e && 'code' in e
  } catch {
    return false
  }
}

t.test('requests: every answer is a success or an OpenAI error, never a crash', async (t) => {
  let runs = 0
  await fc.assert(
    fc.asyncProperty(method, path, headers, body, async (m, p, h, b) => {
      runs++
      const clean = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== ''))
      const res = await fetch(`${gw.url}${p}`, { method: m, headers: clean, body: m === 'GET' ? undefined : (b as BodyInit) })
      const text = await res.text()
      if (res.status < 400) return true
      if (!isOpenAIError(text)) throw new Error(`${m} ${p} → ${res.status} not OpenAI-shaped: ${text.slice(0, 200)}`)
      return res.status < 500 || [502, 503, 504].includes(res.status)
    }),
    { numRuns: 400, seed: 20261202 }
  )
  t.equal(runs, 400)
  t.equal((await fetch(`${gw.url}/healthz`)).status, 200, 'still serving')
})

t.test('raw HTTP: malformed request lines and headers get an OpenAI error or a clean close', async (t) => {
  const port = Number(new URL(gw.url).port)
  const line = fc.oneof(
    fc.constantFrom('POST /v1/chat/completions HTTP/1.1', 'GET / HTTP/1.1', 'PRI * HTTP/2.0', 'POST /v1/chat/completions HTTP/9.9', 'GARBAGE'),
    fc.stringMatching(/^[\x00-\x7f]{0,60}$/)
  )
  const hdrs = fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.oneof(fc.constantFrom('host: x', 'content-length: 5', 'content-length: -1', 'content-length: 5, 6', 'transfer-encoding: chunked', 'transfer-encoding: gzip, chunked'), fc.stringMatching(/^[\x00-\xff]{0,40}$/)), { maxLength: 6 }) },
    // more than 16 KB of headers, or thousands of them (431)
    { weight: 1, arbitrary: fc.constant([`x-big: ${'a'.repeat(20_000)}`]) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 3000 }, (_, i) => `x-h${i}: v`)) }
  )
  await fc.assert(
    fc.asyncProperty(line, hdrs, fc.string({ maxLength: 40 }), async (l, hs, rest) => {
      const answer = await new Promise<string>((resolve) => {
        const s = connect(port, '127.0.0.1')
        let out = ''
        s.on('data', (d) => (out += d.toString('latin1')))
        s.on('close', () => resolve(out))
        s.on('error', () => resolve(out))
        s.write(Buffer.from(`${l}\r\n${hs.join('\r\n')}\r\n\r\n${rest}`, 'latin1'))
        setTimeout(() => s.destroy(), 300)
      })
      for (const m of answer.matchAll(/HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/g)) {
        if (Number(m[1]) < 400) continue
        const rest = answer.slice((m.index ?? 0) + m[0].length)
        const len = Number(/content-length: (\d+)/i.exec(m[2])?.[1] ?? -1)
        if (len < 0 || !isOpenAIError(rest.slice(0, len))) throw new Error(`not OpenAI-shaped: ${answer.slice(0, 300)}`)
      }
      return true
    }),
    { numRuns: 150, seed: 7 }
  )
  t.equal((await fetch(`${gw.url}/healthz`)).status, 200, 'still serving')
})
