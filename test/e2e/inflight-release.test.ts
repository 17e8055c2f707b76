import t from 'tap'
import { startBadBackend, type BadBackend } from '../helpers/backends.js'
import { startGateway } from '../helpers/gateway.js'
import { chat, expectOpenAIError, post } from '../helpers/http.js'

// In-flight counts drive least-request: they must return to zero on every exit path.
let backend: BadBackend
let gw: Awaited<ReturnType<typeof startGateway>>

t.before(async () => {
  backend = await startBadBackend()
  const models = ['echo', 'text-error', 'hang', 'slow-stream', 'midstream-cut', 'reset'].map((name) => ({ name, endpoints: [backend.address] }))
  gw = await startGateway({
    server: { requestTimeoutMs: 300, streamIdleTimeoutMs: 300 },
    discovery: { static: { models } },
    routing: { defaultStrategy: 'least-request' }
  })
})
t.teardown(async () => {
  await gw.close()
  await backend.close()
})

const settled = async () => {
  for (let i = 0; i < 50 && gw.gateway.inflight.total() > 0; i++) await new Promise((r) => setTimeout(r, 10))
  return gw.gateway.inflight.total()
}

t.test('success', async (t) => {
  const res = await post(`${gw.url}/v1/chat/completions`, chat('echo'))
  t.equal(res.status, 200)
  await res.arrayBuffer()
  t.equal(await settled(), 0)
})

t.test('upstream error status', async (t) => {
  const res = await post(`${gw.url}/v1/chat/completions`, chat('text-error'))
  t.equal(res.status, 500)
  await res.arrayBuffer()
  t.equal(await settled(), 0)
})

t.test('timeout', async (t) => {
  await expectOpenAIError(t, await post(`${gw.url}/v1/chat/completions`, chat('hang')), { status: 504, type: 'api_error' })
  t.equal(await settled(), 0)
})

t.test('stream cut by the pod', async (t) => {
  const res = await post(`${gw.url}/v1/chat/completions`, chat('midstream-cut', { stream: true }))
  await res.text()
  t.equal(await settled(), 0)
})

t.test('client abort mid-stream aborts the upstream request within 1 s', async (t) => {
  const before = backend.seen.length
  const ac = new AbortController()
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(chat('slow-stream', { stream: true })),
    signal: ac.signal
  })
  const reader = res.body!.getReader()
  await reader.read()
  t.equal(gw.gateway.inflight.total(), 1, 'counted while streaming')
  const abortedAt = Date.now()
  ac.abort()
  const seen = backend.seen[before]
  for (let i = 0; i < 100 && !seen.closedEarly; i++) await new Promise((r) => setTimeout(r, 10))
  t.ok(seen.closedEarly, 'the pod saw the connection close')
  t.ok((seen.closedAt ?? Infinity) - abortedAt < 1000, `closed ${(seen.closedAt ?? 0) - abortedAt} ms after the client left`)
  t.equal(await settled(), 0)
})

t.test('client abort while waiting for a non-streamed answer', async (t) => {
  const ac = new AbortController()
  const pending = fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('hang')), signal: ac.signal })
  await new Promise((r) => setTimeout(r, 50))
  t.equal(gw.gateway.inflight.total(), 1)
  ac.abort()
  await t.rejects(pending)
  t.equal(await settled(), 0)
})

t.test('connection reset', async (t) => {
  const res = await post(`${gw.url}/v1/chat/completions`, chat('reset'))
  t.equal(res.status, 502)
  await res.arrayBuffer()
  t.equal(await settled(), 0)
})
