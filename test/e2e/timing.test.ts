import t from 'tap'
import { answerJson, answerStream, startPod } from '../helpers/pods.js'
import { startGateway } from '../helpers/gateway.js'
import { serverTiming } from '../../src/pipeline/pipeline.js'

// server-timing on every answer, and the gateway's own steps as histograms apart from the pods' time.
const chat = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })
const entries = (header: string | null) => Object.fromEntries(String(header).split(', ').map((e) => { const [name, dur] = e.split(';dur='); return [name, Number(dur)] }))

t.test('server-timing names admit, route, connect, first-byte and gateway; a failover shows apart', async (t) => {
  // the pod takes far longer than the gateway's own steps, even on a loaded CI machine
  const slow = await startPod((_req, res) => void setTimeout(() => answerJson(res, 'slow'), 200))
  const broken = await startPod((_req, res) => void setTimeout(() => res.writeHead(503).end('{}'), 30))
  t.teardown(() => Promise.all([slow.close(), broken.close()]))
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [slow.address] }, { name: 'n', endpoints: [broken.address, slow.address] }] } } })
  t.teardown(gw.close)
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat })
  t.equal(res.status, 200)
  const st = entries(res.headers.get('server-timing'))
  t.same(Object.keys(st), ['admit', 'route', 'connect', 'first-byte', 'gateway'])
  t.ok(st['first-byte'] >= 190, `first-byte is the pod's time (${st['first-byte']} ms for a 200 ms pod)`)
  t.ok(st.gateway < 150 && st.gateway >= st.admit, `gateway is the gateway's own time (${st.gateway} ms), without the pod's 200 ms`)
  t.ok(st.connect >= 0 && st.connect < st['first-byte'])

  // the 503 pod is tried first by some picks: send until one failed over
  let failover: Record<string, number> | undefined
  for (let i = 0; i < 40 && !failover; i++) {
    const r = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'routing-strategy': 'random' }, body: chat.replace('"m"', '"n"') })
    await r.arrayBuffer()
    if (r.headers.get('x-retry-count')) failover = entries(r.headers.get('server-timing'))
  }
  t.ok(failover, 'a request failed over')
  t.ok(failover!.failover >= 25, `failover holds the failed attempt (${failover!.failover} ms)`)
  t.ok(failover!.gateway < failover!.failover, 'the failed attempt is not counted as gateway time')

  const metrics = await (await fetch(`${gw.url}/metrics`)).text()
  for (const step of ['admit', 'route', 'connect']) t.match(metrics, new RegExp(`brixgate_gateway_step_seconds_count\\{step="${step}"\\} [1-9]`), step)
  t.match(metrics, /brixgate_gateway_overhead_seconds_count [1-9]/)
})

t.test('a streamed answer names connect too, and its body arrives whole after a 1xx', async (t) => {
  // the pod sends 103 Early Hints before its answer: the gateway waits for the final status
  const pod = await startPod((_req, res, body) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload' })
    setTimeout(() => answerStream(res, body, ['a', 'b', 'c']), 60)
  })
  t.teardown(pod.close)
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  t.teardown(gw.close)
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat.replace('}]', '}], "stream": true') })
  t.equal(res.status, 200)
  const text = await res.text()
  t.match(text, /"content":"a"[\s\S]*"content":"b"[\s\S]*"content":"c"[\s\S]*data: \[DONE\]/)
  const st = entries(res.headers.get('server-timing'))
  t.same(Object.keys(st), ['admit', 'route', 'connect', 'first-byte', 'gateway'])
  t.ok(st.connect >= 0 && st.connect < st['first-byte'], `connect ${st.connect} ms, before the pod's first byte (${st['first-byte']} ms)`)
  t.ok(st['first-byte'] >= 55, `first-byte waits for the real answer, not the 103 (${st['first-byte']} ms)`)
})

t.test('serverTiming leaves out what a request did not reach', async (t) => {
  t.equal(serverTiming({ failoverMs: 0, queuedMs: 0, admitted: 0.5 }), 'admit;dur=0.5')
  t.equal(serverTiming({ failoverMs: 0, queuedMs: 0 }), '')
  t.equal(serverTiming({ failoverMs: 5, queuedMs: 0, admitted: 1, sent: 9, committed: 20 }), 'admit;dur=1, route;dur=3, failover;dur=5, first-byte;dur=11, gateway;dur=4')
})

t.test('serverTiming shows the admission queue wait apart from the gateway\'s own time', async (t) => {
  t.equal(serverTiming({ failoverMs: 0, queuedMs: 40, admitted: 41, sent: 42, committed: 50 }), 'admit;dur=1, queue;dur=40, route;dur=1, first-byte;dur=8, gateway;dur=2')
})
