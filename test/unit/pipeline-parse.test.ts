import t from 'tap'
import fc from 'fast-check'
import { util } from 'undici'
import { GatewayError } from '../../src/errors/catalogue.js'
import { parseRequest, upstreamBody } from '../../src/pipeline/parse.js'
import { newRequestId, requestIdFrom } from '../../src/pipeline/request-id.js'
import { addPodHeaders, podResponseHeaders, upstreamRequestHeaders } from '../../src/proxy/headers.js'

const raw = (s: string) => Buffer.from(s)
const kindOf = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    return (e as GatewayError).kind
  }
  return 'ok'
}

t.test('body checks map to catalogue kinds', async (t) => {
  t.equal(kindOf(() => parseRequest('chat', raw(''))), 'bad_body')
  t.equal(kindOf(() => parseRequest('chat', raw('[1]'))), 'bad_body')
  t.equal(kindOf(() => parseRequest('chat', raw('{"messages":[{}]}'))), 'no_model')
  t.equal(kindOf(() => parseRequest('chat', raw('{"model":7,"messages":[{}]}'))), 'bad_body')
  t.equal(kindOf(() => parseRequest('chat', raw('{"model":"m"}'))), 'bad_body')
  t.equal(kindOf(() => parseRequest('completions', raw('{"model":"m"}'))), 'bad_body')
  t.equal(kindOf(() => parseRequest('embeddings', raw('{"model":"m","input":"x","stream":true}'))), 'stream_not_allowed')
  t.equal(kindOf(() => parseRequest('chat', raw('{"model":"m","messages":[{}],"max_tokens":-1}'))), 'bad_body')
})

t.test('include_usage: spliced when absent, merged when options exist, untouched when asked', async (t) => {
  const plain = parseRequest('chat', raw('{"model":"m","messages":[{}],"stream":true}  '))
  const a = upstreamBody(plain)
  t.ok(a.injectedUsage)
  t.equal(a.body.toString(), '{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}  ')
  const withOpts = upstreamBody(parseRequest('chat', raw('{"model":"m","messages":[{}],"stream":true,"stream_options":{"continuous_usage_stats":false}}')))
  t.same(JSON.parse(withOpts.body.toString()).stream_options, { continuous_usage_stats: false, include_usage: true })
  const asked = parseRequest('chat', raw('{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}}'))
  t.same(upstreamBody(asked), { body: asked.raw, injectedUsage: false })
  const nonStream = parseRequest('chat', raw('{"model":"m","messages":[{}]}'))
  t.equal(upstreamBody(nonStream).body, nonStream.raw, 'the same buffer: no copy')
})

t.test('request ids', async (t) => {
  t.equal(requestIdFrom('abc-1.2:3_x'), 'abc-1.2:3_x')
  t.not(requestIdFrom('a'.repeat(129)), 'a'.repeat(129))
  t.not(requestIdFrom('bad id'), 'bad id')
  t.match(requestIdFrom(undefined), /^[0-9a-f-]{36}$/)
})

t.test('new request ids are random UUID v4s, all different, across draws of random bytes', async (t) => {
  const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  const ids = Array.from({ length: 1000 }, () => newRequestId())
  t.equal(ids.filter((id) => V4.test(id)).length, 1000, 'version 4, variant 10')
  t.equal(new Set(ids).size, 1000, 'no repeats (8 draws of random bytes)')
  // every hex digit shows up in every random position: the bytes are spread over the id, not repeated
  for (let at = 0; at < 36; at++) {
    if ([8, 13, 14, 18, 19, 23].includes(at)) continue
    t.equal(new Set(ids.map((id) => id[at])).size, 16, `position ${at}`)
  }
})

t.test('hop-by-hop headers are dropped both ways', async (t) => {
  const up = upstreamRequestHeaders(
    { host: 'gw', connection: 'keep-alive, x-secret', 'x-secret': 's', 'keep-alive': '5', te: 'trailers', 'content-length': '5', 'transfer-encoding': 'chunked', authorization: 'Bearer c', 'x-keep': 'k', 'accept-encoding': 'gzip' },
    { requestId: 'r1' }
  )
  t.same(up, { 'x-keep': 'k', 'x-request-id': 'r1' })
  // the pod's raw headers as undici hands them to a dispatch handler: buffers, in the case the pod sent
  const podHeaders = podResponseHeaders(
    ['Connection', 'x-drop', 'X-Drop', '1', 'Transfer-Encoding', 'chunked', 'content-length', '9', 'Content-Type', 'application/json', 'X-Keep', 'k', 'Date', 'today', 'Server', 'uvicorn', 'X-Pod', 'p'].map((s) => Buffer.from(s))
  )
  t.same(podHeaders, { 'content-type': 'application/json', 'x-keep': 'k', 'x-pod': 'p' }, "the pod's hop-by-hop, framing, date and server, and what its connection header lists, are dropped")
  const down = addPodHeaders({ 'request-id': 'r1', 'x-keep': 'gateway' }, podHeaders)
  t.same(down, { 'request-id': 'r1', 'x-keep': 'gateway', 'content-type': 'application/json', 'x-pod': 'p' }, "the gateway's headers win")
})

t.test("the pod's headers: what undici's parseHeaders gives, less what the client never gets (property)", async (t) => {
  // the rule podResponseHeaders replaced: parse every header, then drop by name
  const dropped = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', 'http2-settings', 'content-encoding', 'date', 'server'])
  const expected = (raw: Buffer[]) => {
    const all = util.parseHeaders(raw) as Record<string, string | string[]>
    const conn = all.connection
    const listed = new Set(
      (conn === undefined ? [] : [conn].flat())
        .filter((v) => v !== 'keep-alive' && v !== 'close')
        .flatMap((v) => v.split(','))
        .map((s) => s.trim().toLowerCase())
    )
    return Object.fromEntries(Object.entries(all).filter(([name]) => !dropped.has(name) && !listed.has(name) && name !== '__proto__'))
  }
  const name = fc.constantFrom('Content-Type', 'content-type', 'Date', 'Server', 'Connection', 'Keep-Alive', 'Content-Length', 'X-Pod', 'x-pod', 'X-Other', 'constructor', 'toString', '__proto__', 'Transfer-Encoding', 'Retry-After')
  const value = fc.oneof(fc.constantFrom('keep-alive', 'close', 'x-pod', 'X-Other, x-pod', 'text/event-stream'), fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 20 }))
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 12 }), (pairs) => {
      const raw = pairs.flatMap(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')])
      t.same(podResponseHeaders(raw), expected(raw))
    }),
    { numRuns: 300 }
  )
})

t.test('include_usage is spliced into the client bytes, never re-serialised (deep nesting, null, false, spacing)', async (t) => {
  const splice = (body: string) => JSON.parse(upstreamBody(parseRequest('chat', raw(body))).body.toString())
  t.same(splice('{"model":"m","messages":[{}],"stream":true,"stream_options":null}').stream_options, { include_usage: true })
  t.same(splice('{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false,"x":[1,{"include_usage":false}]}}').stream_options, { include_usage: true, x: [1, { include_usage: false }] })
  t.same(splice('{ "stream_options" : { } , "model":"m","messages":[{}],"stream":true}').stream_options, { include_usage: true })
  t.same(splice('{"model":"m","messages":[{"content":"\\"stream_options\\": null"}],"stream":true,"stream_options":{"a":"}"}}').stream_options, { a: '}', include_usage: true }, 'braces and keys inside strings are not structure')
  t.same(splice('{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":null}  }').stream_options, { include_usage: true })
  const deep = '['.repeat(100_000) + ']'.repeat(100_000)
  const body = `{"model":"m","messages":[{"content":"hi"}],"deep":${deep},"stream":true,"stream_options":{"continuous_usage_stats":false}}`
  const out = upstreamBody(parseRequest('chat', raw(body))).body.toString()
  t.equal(out, body.replace('{"continuous_usage_stats":false}', '{"include_usage":true,"continuous_usage_stats":false}'), '100k-deep field: only the splice differs')
})
