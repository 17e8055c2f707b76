import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/gateway.js'
import { answerJson, answerStream, startPod } from '../helpers/pods.js'

// The inference routes are served by the node:http edge (src/server/inference-edge.ts); bodies it
// does not take (other content types) still go through Fastify. Both ways must answer alike.

let release: (() => void) | undefined
const pod = await startPod(async (req, res, body) => {
  if (req.headers['x-slow']) await new Promise<void>((r) => (release = r))
  if (JSON.parse(body.toString()).stream) answerStream(res, body, ['a', 'b'])
  else answerJson(res, 'pod')
})
const gw = await startGateway({ server: { bodyLimitBytes: 4096 }, discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
t.teardown(async () => {
  await gw.close()
  await pod.close()
})

const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra })
/**
 * Headers whose values differ per request or per moment; and `connection`: both ways keep the
 * connection, but Fastify's 413 leaves the header out (HTTP/1.1 keeps it by default) where the edge says keep-alive.
 */
const VARYING = new Set(['date', 'request-id', 'server-timing', 'keep-alive', 'connection'])

async function exchange(path: string, contentType: string, body: string) {
  const res = await request(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body })
  const text = await res.body.text()
  const headers = Object.fromEntries(Object.entries(res.headers).filter(([k]) => !VARYING.has(k)))
  return { status: res.statusCode, headers, body: text.replace(/"id":"[^"]*"/g, '"id":"*"') }
}

t.test('the edge and Fastify give the same answer: status, headers and body', async (t) => {
  const cases: [string, string, string][] = [
    ['answer', '/v1/chat/completions', chat()],
    ['stream', '/v1/chat/completions', chat({ stream: true })],
    ['query string', '/v1/completions?api-version=1', JSON.stringify({ model: 'm', prompt: 'hi' })],
    ['alias', '/v2/rerank', JSON.stringify({ model: 'm', query: 'q', documents: ['d'] })],
    ['unknown model', '/v1/chat/completions', JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] })],
    ['not JSON', '/v1/chat/completions', '{"model":'],
    ['empty body', '/v1/chat/completions', ''],
    ['over the body limit', '/v1/chat/completions', chat({ pad: 'x'.repeat(8192) })]
  ]
  for (const [name, path, body] of cases) {
    const edge = await exchange(path, 'application/json', body)
    const fastify = await exchange(path, 'text/plain', body)
    t.same(edge, fastify, name)
  }
  const ok = await exchange('/v1/chat/completions', 'application/json', chat())
  t.equal(ok.status, 200)
  t.equal(ok.headers['target-pod-ip'], pod.address, 'the edge routed it')
  t.equal((await exchange('/v1/chat/completions', 'application/json', chat({ pad: 'x'.repeat(8192) }))).status, 413)
})

t.test('GET on an inference path is still a 405 with Allow (Fastify)', async (t) => {
  const res = await request(`${gw.url}/v1/chat/completions`)
  await res.body.dump()
  t.equal(res.statusCode, 405)
  t.equal(res.headers.allow, 'POST')
})

t.test('an answer written while the gateway shuts down asks the client to close the connection', async (t) => {
  const local = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  const pending = request(`${local.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-slow': '1' }, body: chat() })
  while (!release) await new Promise((r) => setTimeout(r, 5))
  const closing = local.close()
  await new Promise((r) => setTimeout(r, 50))
  release()
  release = undefined
  const res = await pending
  t.equal(res.statusCode, 200)
  t.equal(res.headers.connection, 'close')
  t.match(await res.body.text(), /from pod/)
  await closing
})
