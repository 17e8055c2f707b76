import { connect } from 'node:net'
import t, { type Test } from 'tap'
import OpenAI from 'openai'
import { startSim } from '../../src/sim/server.js'
import { spawnCli, startGateway, writeConfig } from '../helpers/gateway.js'
import { chat, expectOpenAIError, post } from '../helpers/http.js'
import { answerJson, sseChunk, startPod } from '../helpers/pods.js'

// Issue 16: defects found by attacking the gateway as an outsider would, each with its test.

/** Writes raw bytes on a fresh connection and resolves everything the gateway answered before closing. */
function rawExchange(port: number, bytes: string | Buffer, opts: { keepOpenMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    socket.on('data', (d) => (out += d.toString()))
    socket.on('error', () => resolve(out))
    socket.on('close', () => resolve(out))
    socket.write(bytes)
    setTimeout(() => {
      socket.destroy()
      if (out === '') reject(new Error('no answer'))
    }, opts.keepOpenMs ?? 5000)
  })
}

const envelopeOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { message: string; type: string; code: string | null } }

let gw: Awaited<ReturnType<typeof startGateway>>
let port: number
let pod: Awaited<ReturnType<typeof startPod>>

t.before(async () => {
  pod = await startPod((_req, res, body) => {
    const parsed = JSON.parse(body.toString())
    if (parsed.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.end(sseChunk('ok') + 'data: [DONE]\n\n')
    } else answerJson(res, 'pod')
  })
  gw = await startGateway({ server: { bodyTimeoutMs: 600, maxConnectionsPerClient: 50 }, discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  port = Number(new URL(gw.url).port)
})
t.teardown(async () => {
  await gw.close()
  await pod.close()
})

t.test('unknown model names that are no header value → 404 with x-error-no-model-backends: true, bounded', async (t) => {
  for (const name of ['模型', '🙂', 'a\r\nx-injected: 1', 'nul\u0000', 'x'.repeat(20_000), 'y'.repeat(4 * 1024 * 1024)]) {
    const res = await post(`${gw.url}/v1/chat/completions`, chat(name))
    t.equal(res.headers.get('x-injected'), null)
    const text = await res.clone().text()
    t.ok(text.length < 2000, `answer stays small (${text.length} bytes)`)
    await expectOpenAIError(t, res, { status: 404, type: 'invalid_request_error', code: 'model_not_found', headers: { 'x-error-no-model-backends': 'true' } })
  }
  const plain = await post(`${gw.url}/v1/chat/completions`, chat('no-such-model'))
  t.equal(plain.headers.get('x-error-no-model-backends'), 'no-such-model', 'a representable name is kept (SPEC §4)')
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const sdkError = await client.chat.completions.create({ model: 'z'.repeat(20_000), messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)
  t.equal((sdkError as { status?: number }).status, 404, 'the SDK sees a 404, not a connection error')
  const invalidUtf8 = Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","messages":[{"role":"user","content":"hi"}]}')])
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: invalidUtf8 })
  await expectOpenAIError(t, res, { status: 404, type: 'invalid_request_error', headers: { 'x-error-no-model-backends': 'true' } })
})

t.test('a body that never finishes → 408 in the envelope after bodyTimeoutMs (chunked and short of content-length)', async (t) => {
  for (const head of [
    'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"mod\r\n',
    'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":'
  ]) {
    const answer = await rawExchange(port, head)
    t.match(answer, /^HTTP\/1\.1 408/)
    t.equal(envelopeOf(answer).error.code, 'request_timeout')
  }
})

t.test('headers that never finish → 408; bad bytes → 400; huge headers → 431; all in the envelope', async (t) => {
  const slow = await rawExchange(port, 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n')
  t.match(slow, /^HTTP\/1\.1 408/)
  t.type(envelopeOf(slow).error.message, 'string')
  const bad = await rawExchange(port, 'POST /v1/chat/completions HTTP/1.1\r\nho\u0001st: x\r\n\r\n')
  t.match(bad, /^HTTP\/1\.1 400/)
  t.equal(envelopeOf(bad).error.type, 'invalid_request_error')
  const h2 = await rawExchange(port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
  t.match(h2, /^HTTP\/1\.1 400/)
  const smuggle = await rawExchange(port, 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n')
  t.match(smuggle, /^HTTP\/1\.1 400/)
  const huge = await rawExchange(port, `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(huge, /^HTTP\/1\.1 431/)
  t.equal(envelopeOf(huge).error.code, 'request_header_fields_too_large')
})

t.test('a stream request nested 100k deep with stream_options is forwarded, not a 500', async (t) => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000)
  const res = await post(`${gw.url}/v1/chat/completions`, `{"model":"m","messages":[{"role":"user","content":"hi"}],"x":${deep},"stream":true,"stream_options":{"continuous_usage_stats":false}}`)
  t.equal(res.status, 200)
  t.match(await res.text(), /data: \[DONE\]/)
})

t.test('connections past maxConnectionsPerClient get a 429 in the envelope', async (t) => {
  const local = await startGateway({ server: { maxConnectionsPerClient: 2 }, discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  t.teardown(() => local.close())
  const p = Number(new URL(local.url).port)
  const held = [connect(p, '127.0.0.1'), connect(p, '127.0.0.1')]
  await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))))
  await new Promise((r) => setTimeout(r, 50))
  const third = await rawExchange(p, 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n')
  t.match(third, /^HTTP\/1\.1 429/)
  t.equal(envelopeOf(third).error.code, 'too_many_connections')
  for (const s of held) s.destroy()
})

/** Uploads use a gateway with the default body timeout: 100 MB at once on a slow machine can take longer than the 600 ms the 408 tests need. */
async function uploadGateway(t: Test) {
  const local = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  t.teardown(() => local.close())
  return local
}

t.test('a 10 MB upload over the limit: the OpenAI SDK reads the 413 every time (no EPIPE)', async (t) => {
  const local = await uploadGateway(t)
  const client = new OpenAI({ baseURL: `${local.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const content = 'x'.repeat(10 * 1024 * 1024)
  // sequential and then 10 at once: an early close while clients still upload shows up under concurrency
  for (let i = 0; i < 10; i++) {
    const err = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content }] }).catch((e: unknown) => e)
    t.equal((err as { status?: number }).status, 413, `upload ${i}`)
  }
  const together = await Promise.all(Array.from({ length: 10 }, () => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content }] }).catch((e: unknown) => e)))
  t.same(together.map((e) => (e as { status?: number }).status), Array(10).fill(413), '10 concurrent uploads read their 413')
})

t.test('a slow 10 MB upload over the limit reads its 413, whole, without a reset', async (t) => {
  const local = await uploadGateway(t)
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(Number(new URL(local.url).port), '127.0.0.1')
    let out = ''
    socket.on('data', (d) => (out += d.toString()))
    socket.on('error', (err) => resolve(`${out}\n[socket error ${(err as NodeJS.ErrnoException).code}]`))
    socket.on('close', () => resolve(out))
    const total = 10 * 1024 * 1024
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${total}\r\n\r\n`)
    let sent = 0
    const chunk = Buffer.alloc(256 * 1024, 'x')
    const pump = () => {
      if (sent >= total) return setTimeout(() => socket.end(), 50)
      sent += chunk.length
      socket.write(chunk, () => setTimeout(pump, 2))
    }
    pump()
  })
  t.match(answer, /^HTTP\/1\.1 413/)
  t.notMatch(answer, /socket error/, 'no EPIPE or reset while the client was still sending')
  t.equal(envelopeOf(answer).error.code, 'request_too_large')
})

t.test('the simulator: an empty prompt is a 400 (as vLLM), the pod stays up; a 1 MB one-word prompt is refused quickly', async (t) => {
  const sim = await startSim({ model: 'sim', timeScale: 0.01 })
  t.teardown(() => sim.close())
  const empty = await post(`${sim.url}/v1/completions`, { model: 'sim', prompt: '', max_tokens: 2 })
  t.equal(empty.status, 400)
  const busy = Array.from({ length: 5 }, () => post(`${sim.url}/v1/completions`, { model: 'sim', prompt: 'hello there', max_tokens: 4 }))
  const alsoEmpty = await post(`${sim.url}/v1/completions`, { model: 'sim', prompt: '', max_tokens: 2 })
  t.equal(alsoEmpty.status, 400, 'a busy pod refuses it too, and does not exit')
  for (const r of await Promise.all(busy)) t.equal(r.status, 200)
  const long = await post(`${sim.url}/v1/completions`, { model: 'sim', prompt: 'a'.repeat(1024 * 1024), max_tokens: 2 })
  t.equal(long.status, 400)
  const ok = await post(`${sim.url}/v1/completions`, { model: 'sim', prompt: 'b'.repeat(20_000), max_tokens: 2 })
  t.equal(ok.status, 200, 'a 20K-character word is tokenised and served')
})

t.test('shutdown grace runs out: open streams end with one error event, and the process exits non-zero', async (t) => {
  const endless = await startPod(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (let i = 0; i < 200 && !res.destroyed; i++) {
      res.write(sseChunk(`t${i} `))
      await new Promise((r) => setTimeout(r, 25))
    }
    res.end('data: [DONE]\n\n')
  })
  t.teardown(() => endless.close())
  const file = writeConfig({ server: { host: '127.0.0.1', port: 0, shutdownGraceMs: 300 }, discovery: { static: { models: [{ name: 'm', endpoints: [endless.address] }] } } })
  const cli = await spawnCli(['--config', file])
  const res = await post(`${cli.url}/v1/chat/completions`, chat('m', { stream: true }))
  t.equal(res.status, 200)
  const text = res.text()
  await new Promise((r) => setTimeout(r, 100))
  const code = await cli.stop('SIGTERM')
  const body = await text
  t.equal(code, 1, 'exit code says streams were cut')
  t.equal(body.match(/"error"/g)?.length, 1, 'one error event')
  t.match(body, /gateway_shutdown/)
  t.match(cli.stdout() + cli.stderr(), /streamsCut/)
})

t.test('SIGTERM with 200 open streams: every stream completes, then exit 0', async (t) => {
  const steady = await startPod(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (let i = 0; i < 20; i++) {
      res.write(sseChunk(`t${i} `))
      await new Promise((r) => setTimeout(r, 30))
    }
    res.end('data: [DONE]\n\n')
  })
  t.teardown(() => steady.close())
  const file = writeConfig({ server: { host: '127.0.0.1', port: 0, shutdownGraceMs: 10_000, logLevel: 'warn' }, discovery: { static: { models: [{ name: 'm', endpoints: [steady.address] }] } } })
  const cli = await spawnCli(['--config', file])
  const responses = await Promise.all(Array.from({ length: 200 }, () => post(`${cli.url}/v1/chat/completions`, chat('m', { stream: true }))))
  const bodies = Promise.all(responses.map((r) => r.text()))
  const code = cli.stop('SIGTERM')
  const texts = await bodies
  t.equal(await code, 0)
  t.equal(texts.filter((x) => x.endsWith('data: [DONE]\n\n') && !x.includes('"error"')).length, 200, 'all 200 streams complete')
})
