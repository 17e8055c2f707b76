import t from 'tap'
import type { Pod } from '../../src/discovery/pod.js'
import { GatewayError } from '../../src/errors/catalogue.js'
import { leastRequestStrategy } from '../../src/routing/least-request.js'
import { randomStrategy } from '../../src/routing/random.js'
import { StrategyRegistry } from '../../src/routing/registry.js'
import type { RoutingInput } from '../../src/routing/strategy.js'
import { InflightTracker } from '../../src/telemetry/inflight.js'

const pod = (name: string): Pod => ({ id: name, source: 'test', name, address: `10.0.0.${name.length}:8000`, metricsAddress: '', model: 'm', adapters: new Set(), labels: {}, ready: true })
const pods = [pod('a'), pod('bb'), pod('ccc')]
const input = (inflight: Record<string, number>, random = Math.random): RoutingInput => ({
  request: { model: 'm', body: {}, headers: {} },
  pods,
  stats: { inflight: (p) => inflight[p.name] ?? 0 },
  random
})

t.test('random picks by the random source, covering every pod', async (t) => {
  t.equal(randomStrategy.pick(input({}, () => 0))?.pod.name, 'a')
  t.equal(randomStrategy.pick(input({}, () => 0.99))?.pod.name, 'ccc')
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) seen.add(randomStrategy.pick(input({}))!.pod.name)
  t.equal(seen.size, 3)
})

t.test('least-request picks the fewest in-flight, ties at random', async (t) => {
  t.equal(leastRequestStrategy.pick(input({ a: 3, bb: 1, ccc: 2 }))?.pod.name, 'bb')
  t.equal(leastRequestStrategy.pick(input({ a: 1, bb: 0, ccc: 0 }, () => 0))?.pod.name, 'bb')
  t.equal(leastRequestStrategy.pick(input({ a: 1, bb: 0, ccc: 0 }, () => 0.9))?.pod.name, 'ccc')
})

t.test('registry resolves names and refuses unknown ones with a 400', async (t) => {
  const reg = new StrategyRegistry()
  t.equal(reg.resolve('least-request'), leastRequestStrategy)
  t.equal(reg.resolve(' random '), randomStrategy)
  const err = (() => {
    try {
      reg.resolve('nope')
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof GatewayError)
  t.equal((err as GatewayError).status, 400)
  t.same((err as GatewayError).headers, { 'x-error-invalid-routing-strategy': 'true', 'x-error-routing': 'true' })
})

t.test('in-flight tracker: release is idempotent', async (t) => {
  const tr = new InflightTracker()
  const r1 = tr.acquire('p')
  const r2 = tr.acquire('p')
  t.equal(tr.get('p'), 2)
  r1()
  r1()
  t.equal(tr.get('p'), 1)
  r2()
  t.equal(tr.total(), 0)
})
