import t from 'tap'
import { PodRegistry } from '../../src/discovery/registry.js'
import { loadStaticDiscovery, staticPods } from '../../src/discovery/static.js'

t.test('static endpoints: strings and objects, names default to the address', async (t) => {
  const pods = staticPods([{ name: 'm', endpoints: ['127.0.0.1:1', { address: '127.0.0.1:2', name: 'b', labels: { gpu: 'h100' } }], adapters: ['lora'] }])
  t.same(
    pods.map((p) => [p.name, p.address, p.labels, [...p.adapters]]),
    [
      ['127.0.0.1:1', '127.0.0.1:1', {}, ['lora']],
      ['b', '127.0.0.1:2', { gpu: 'h100' }, ['lora']]
    ]
  )
})

t.test('resolve: models, adapters, unknown names, the same address under two models', async (t) => {
  const reg = new PodRegistry()
  t.notOk(reg.synced, 'not ready before a source synced')
  loadStaticDiscovery(reg, [
    { name: 'base', endpoints: ['127.0.0.1:1', '127.0.0.1:2'], adapters: ['sql'] },
    { name: 'other', endpoints: ['127.0.0.1:1'] }
  ])
  t.ok(reg.synced)
  t.equal(reg.resolve('base').pods.length, 2)
  t.equal(reg.resolve('sql').pods.length, 2)
  t.equal(reg.resolve('other').pods.length, 1)
  t.same(reg.resolve('nope'), { known: false, pods: [], ejected: 0 })
  t.same(reg.routableModels().map((m) => [m.id, m.parent]), [['base', undefined], ['other', undefined], ['sql', 'base']])
})

t.test('consecutive failures eject a pod (never more than maxEjectionPercent); it returns after its probe', async (t) => {
  let now = 0
  const reg = new PodRegistry({ now: () => now, outlier: { consecutiveFailures: 2, baseEjectionMs: 1000, maxEjectionPercent: 50 } })
  loadStaticDiscovery(reg, [{ name: 'm', endpoints: ['127.0.0.1:1', '127.0.0.1:2'] }])
  t.notOk(reg.reportFailure('127.0.0.1:1'), 'one failure is not enough')
  t.equal(reg.resolve('m').pods.length, 2)
  t.ok(reg.reportFailure('127.0.0.1:1'), 'the second ejects')
  t.same(reg.resolve('m').pods.map((p) => p.address), ['127.0.0.1:2'])
  t.equal(reg.resolve('m').ejected, 1)
  reg.reportFailure('127.0.0.1:2')
  t.notOk(reg.reportFailure('127.0.0.1:2'), 'a second pod of two would be over 50 %')
  t.equal(reg.resolve('m').pods.length, 1)
  now = 1001
  t.equal(reg.resolve('m').pods.length, 1, 'ejection over, but no traffic before a probe answers')
  t.same(reg.outlier.dueForProbe(), ['127.0.0.1:1'])
  t.same(reg.outlier.dueForProbe(), [], 'a probe is handed out once')
  reg.outlier.probed('127.0.0.1:1', false)
  t.equal(reg.outlier.state('127.0.0.1:1').remainingMs, 2000, 'a failed probe ejects again, for twice as long')
  now = 3002
  t.same(reg.outlier.dueForProbe(), ['127.0.0.1:1'])
  reg.outlier.probed('127.0.0.1:1', true)
  t.equal(reg.resolve('m').pods.length, 2, 'back after a healthy probe')
  reg.reportSuccess('127.0.0.1:1')
  t.notOk(reg.isEjected('127.0.0.1:1'))
})

t.test('a hung pod (requests open, no output for hangSeconds) is found; an idle one is not', async (t) => {
  let now = 0
  const reg = new PodRegistry({ now: () => now, outlier: { hangSeconds: 5, maxEjectionPercent: 50 } })
  loadStaticDiscovery(reg, [{ name: 'm', endpoints: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'] }])
  const busy = new Map([['127.0.0.1:1', 2], ['127.0.0.1:2', 0], ['127.0.0.1:3', 1]])
  reg.outlier.becameBusy('127.0.0.1:1')
  reg.outlier.becameBusy('127.0.0.1:3')
  now = 4000
  reg.outlier.progress('127.0.0.1:3')
  const addresses = [...busy.keys()]
  t.same(reg.outlier.hung(addresses, (a) => busy.get(a) ?? 0, () => undefined), [])
  now = 5001
  t.same(reg.outlier.hung(addresses, (a) => busy.get(a) ?? 0, () => undefined), ['127.0.0.1:1'])
  t.same(reg.outlier.hung(addresses, (a) => busy.get(a) ?? 0, (a) => (a === '127.0.0.1:1' ? 4500 : undefined)), [], 'a moving token counter is progress')
  t.ok(reg.ejectHung('127.0.0.1:1'))
  t.equal(reg.outlier.state('127.0.0.1:1').reason, 'hung')
  t.same(reg.resolve('m').pods.map((p) => p.address), ['127.0.0.1:2', '127.0.0.1:3'])
})

t.test('upsert and remove change what the next request sees', async (t) => {
  const reg = new PodRegistry()
  const pod = { id: 'ns/p', source: 'test', name: 'p', address: '10.0.0.1:8000', metricsAddress: '10.0.0.1:8000', model: 'm', adapters: new Set<string>(), labels: {}, ready: false }
  reg.upsert(pod)
  t.same(reg.resolve('m'), { known: true, pods: [], ejected: 0 }, 'not ready')
  reg.upsert({ ...pod, ready: true })
  t.equal(reg.resolve('m').pods.length, 1)
  reg.remove('ns/p')
  t.same(reg.resolve('m'), { known: false, pods: [], ejected: 0 })
})
