import t from 'tap'
import { breakdown, layerOf, stepOf } from '../../bench/profile.js'

// a CPU profile as V8's profiler writes it: nodes with their children, one node id per sample
const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 })
const src = (file: string) => `file:///srv/brixgate/dist/src/${file}`
const profile = {
  startTime: 0,
  endTime: 1000, // 10 samples over 1,000 µs: 100 µs each
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 9] },
    { id: 2, callFrame: frame('(idle)') },
    { id: 3, callFrame: frame('(garbage collector)') },
    { id: 4, callFrame: frame('serveInference', src('server/inference-edge.js')), children: [5] },
    { id: 5, callFrame: frame('commit', src('pipeline/pipeline.js')), children: [6, 7] },
    { id: 6, callFrame: frame('emit', 'node:events') },
    { id: 7, callFrame: frame('dispatch', 'file:///srv/brixgate/node_modules/undici/lib/dispatcher/client.js'), children: [8] },
    { id: 8, callFrame: frame('writev') },
    { id: 9, callFrame: frame('processImmediate', 'node:internal/timers') }
  ],
  samples: [2, 2, 2, 2, 3, 5, 6, 8, 8, 9]
}

t.test('busy time is split per request; idle samples are left out', async (t) => {
  const b = breakdown(profile, 2)
  t.equal(b.busy, 300, '6 busy samples × 100 µs over 2 requests')
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, c) => a + c, 0)
  t.equal(sum(b.steps), b.busy, 'every busy sample goes to one step')
  t.equal(sum(b.layers), b.busy, 'and to one layer')
})

t.test('a sample belongs to the innermost brixgate function on its stack, with the library work it called', async (t) => {
  const b = breakdown(profile, 1)
  // commit's own sample, the node:events one under it and the two socket writes under undici
  t.equal(b.functions.get('commit (pipeline/pipeline.js)'), 400)
  t.equal(b.steps.get('commit (answer check, usage, headers)'), 400)
  t.notOk(b.functions.has('serveInference (server/inference-edge.js)'), 'the outer frame owns nothing its callee did')
  t.equal(b.steps.get('sockets, parsers and timers with no brixgate frame above them'), 100)
  t.equal(b.steps.get('GC and native work not under a JavaScript frame'), 100)
})

t.test('layers: where the time itself was spent', async (t) => {
  const b = breakdown(profile, 1)
  t.equal(b.layers.get("socket writes (the kernel's TCP send)"), 200)
  t.equal(b.layers.get("brixgate's own code"), 100)
  t.equal(b.layers.get("V8's garbage collector"), 100)
  t.equal(layerOf(frame('onHeaders', 'file:///x/node_modules/undici/lib/core/request.js')), 'undici')
  t.equal(layerOf(frame('end', 'node:_http_outgoing')), 'node:http, node:net and streams')
  t.equal(layerOf(frame('now')), "node's C++ bindings (buffers, timers, clock...)")
})

t.test("steps follow docs/architecture.md's map", async (t) => {
  t.equal(stepOf('pipeline/identify.js', 'identify'), 'identify')
  t.equal(stepOf('pipeline/parse.js', 'parseRequest'), 'parse')
  t.equal(stepOf('limits/limiter.js', 'admit'), 'admit')
  t.equal(stepOf('routing/prefix-cache.js', 'pick'), 'route')
  t.equal(stepOf('pipeline/attempt.js', 'attemptWhole'), 'forward')
  t.equal(stepOf('proxy/sse-relay.js', 'next'), 'relay')
  t.equal(stepOf('pipeline/pipeline.js', 'finish'), 'settle (limits, in-flight, metrics, access log)')
  t.equal(stepOf('observability/access-log.js', ''), 'settle (limits, in-flight, metrics, access log)')
})
