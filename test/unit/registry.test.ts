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
  t.same(reg.resolve('nope'), { known: false, pods: [] })
  t.same(reg.routableModels().map((m) => [m.id, m.parent]), [['base', undefined], ['other', undefined], ['sql', 'base']])
})

t.test('repeated connect failures take a pod out of rotation until the ejection ends', async (t) => {
  let now = 0
  const reg = new PodRegistry({ now: () => now, failureThreshold: 2, ejectMs: 1000 })
  loadStaticDiscovery(reg, [{ name: 'm', endpoints: ['127.0.0.1:1', '127.0.0.1:2'] }])
  reg.reportFailure('127.0.0.1:1')
  t.equal(reg.resolve('m').pods.length, 2, 'one failure is not enough')
  reg.reportFailure('127.0.0.1:1')
  t.same(reg.resolve('m').pods.map((p) => p.address), ['127.0.0.1:2'])
  reg.reportFailure('127.0.0.1:2')
  reg.reportFailure('127.0.0.1:2')
  t.same(reg.resolve('m'), { known: true, pods: [] }, 'known but nothing routable → 503 upstream')
  t.same(reg.routableModels(), [])
  now = 1001
  t.equal(reg.resolve('m').pods.length, 2, 'back after the ejection')
  reg.reportSuccess('127.0.0.1:1')
  t.notOk(reg.isEjected('127.0.0.1:1'))
})

t.test('upsert and remove change what the next request sees', async (t) => {
  const reg = new PodRegistry()
  const pod = { id: 'ns/p', source: 'test', name: 'p', address: '10.0.0.1:8000', metricsAddress: '10.0.0.1:8000', model: 'm', adapters: new Set<string>(), labels: {}, ready: false }
  reg.upsert(pod)
  t.same(reg.resolve('m'), { known: true, pods: [] }, 'not ready')
  reg.upsert({ ...pod, ready: true })
  t.equal(reg.resolve('m').pods.length, 1)
  reg.remove('ns/p')
  t.same(reg.resolve('m'), { known: false, pods: [] })
})
