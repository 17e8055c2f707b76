import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { eventually } from '../helpers/eventually.js'
import { startGateway } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'
import { answerJson, answerStream, startPod } from '../helpers/pods.js'

// OpenTelemetry traces exported over OTLP/HTTP to an in-process receiver that speaks the protocol.
interface OtlpValue { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean }
interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: { key: string; value: OtlpValue }[]; status?: { code?: number } }
const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value
  return v && (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue)))
}

async function otlpReceiver() {
  const spans: OtlpSpan[] = []
  const services: unknown[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }
      for (const rs of body.resourceSpans) {
        services.push(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue)
        for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, services, close: () => new Promise<void>((r) => server.close(() => r())) }
}

t.test('a span per request with GenAI attributes, a child per attempt, traceparent honoured and sent upstream', async (t) => {
  const otlp = await otlpReceiver()
  t.teardown(otlp.close)
  const seen: (string | undefined)[] = []
  const failing = await startPod((req, res) => {
    seen.push(req.headers.traceparent as string | undefined)
    res.writeHead(503).end('{}')
  })
  const good = await startPod((req, res, body) => {
    seen.push(req.headers.traceparent as string | undefined)
    if (JSON.parse(body.toString()).stream) answerStream(res, body, ['a', 'b', 'c'])
    else answerJson(res, 'good')
  })
  t.teardown(() => Promise.all([failing.close(), good.close()]))
  const gw = await startGateway({
    tracing: { otlpEndpoint: otlp.url, serviceName: 'gw-under-test', exportDelayMs: 50 },
    discovery: { static: { models: [{ name: 'm', endpoints: [{ address: good.address, name: 'good' }] }, { name: 'n', endpoints: [{ address: failing.address, name: 'failing' }, { address: good.address, name: 'good' }] }] } }
  })
  t.teardown(gw.close)

  const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736'
  const clientSpan = '00f067aa0ba902b7'
  const res = await post(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, stream_options: { include_usage: true }, max_tokens: 9 }), { traceparent: `00-${clientTrace}-${clientSpan}-01` })
  await res.text()
  await eventually(() => otlp.spans.filter((s) => s.traceId === clientTrace).length === 2, 5000, 'two spans exported')
  const server = otlp.spans.find((s) => s.traceId === clientTrace && s.kind === 2)!
  const attemptSpan = otlp.spans.find((s) => s.traceId === clientTrace && s.kind === 3)!
  t.equal(server.parentSpanId, clientSpan, "the request's span is a child of the client's")
  t.equal(server.name, 'chat m')
  t.equal(attr(server, 'gen_ai.operation.name'), 'chat')
  t.equal(attr(server, 'gen_ai.request.model'), 'm')
  t.equal(attr(server, 'gen_ai.request.max_tokens'), 9)
  t.equal(attr(server, 'gen_ai.usage.input_tokens'), 2)
  t.equal(attr(server, 'gen_ai.usage.output_tokens'), 3)
  t.ok(Number(attr(server, 'gen_ai.server.time_to_first_token')) > 0, 'TTFT recorded')
  t.equal(attr(server, 'brixgate.pod'), 'good')
  t.equal(attr(server, 'http.response.status_code'), 200)
  t.equal(attemptSpan.parentSpanId, server.spanId)
  t.equal(attemptSpan.name, 'attempt good')
  t.equal(seen[0], `00-${clientTrace}-${attemptSpan.spanId}-01`, "the pod got the attempt span's traceparent")
  t.same(otlp.services.slice(0, 1), ['gw-under-test'])

  // a failover: two attempt spans, the first marked as an error; no client traceparent → a new trace
  let traceId: string | undefined
  for (let i = 0; i < 40 && !traceId; i++) {
    const r = await post(`${gw.url}/v1/chat/completions`, chat('n'), { 'routing-strategy': 'random', 'x-request-id': `failover-${i}` })
    await r.arrayBuffer()
    if (r.headers.get('x-retry-count')) traceId = seen[seen.length - 1]?.split('-')[1]
  }
  t.ok(traceId, 'a request failed over')
  await eventually(() => otlp.spans.filter((s) => s.traceId === traceId).length === 3, 5000, 'three spans for the failover')
  const attempts = otlp.spans.filter((s) => s.traceId === traceId && s.kind === 3).sort((a, b) => Number(attr(a, 'brixgate.attempt')) - Number(attr(b, 'brixgate.attempt')))
  t.same(attempts.map((s) => [s.name, s.status?.code ?? 0]), [['attempt failing', 2], ['attempt good', 0]])
  t.equal(attr(attempts[0], 'error.type'), 'status_5xx')
  t.equal(attr(otlp.spans.find((s) => s.traceId === traceId && s.kind === 2)!, 'brixgate.retries'), 1)
})

t.test('tracing is off by default: the client traceparent passes through untouched', async (t) => {
  let got: string | undefined
  const pod = await startPod((req, res) => {
    got = req.headers.traceparent as string | undefined
    answerJson(res, 'p')
  })
  t.teardown(() => pod.close())
  const gw = await startGateway({ discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  t.teardown(gw.close)
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  await (await post(`${gw.url}/v1/chat/completions`, chat('m'), { traceparent: tp })).arrayBuffer()
  t.equal(got, tp)
})
