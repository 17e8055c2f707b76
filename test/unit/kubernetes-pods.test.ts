import t from 'tap'
import type { V1Pod } from '@kubernetes/client-node'
import { adaptersByPod, isRoutable, toPod } from '../../src/discovery/kubernetes/pods.js'
import { makeAdapter, makePod } from '../fixtures/fake-kube.js'

const pod = (...args: Parameters<typeof makePod>) => makePod(...args) as unknown as V1Pod

t.test('routable = IP, not terminating, Ready=True', async (t) => {
  t.ok(isRoutable(pod('a', { model: 'm' })))
  t.notOk(isRoutable(pod('a', { model: 'm', ready: false })))
  t.notOk(isRoutable(pod('a', { model: 'm', deleting: true })))
  t.notOk(isRoutable(pod('a', { model: 'm', ip: '' })))
  const noConditions = pod('a', { model: 'm' })
  delete noConditions.status!.conditions
  t.notOk(isRoutable(noConditions))
})

t.test('pod record: model, ports, labels', async (t) => {
  t.match(toPod(pod('p', { namespace: 'ns', model: 'llama', ip: '10.1.2.3', port: 9000, metricPort: 9100, labels: { gpu: 'a100' } })), {
    id: 'ns/p',
    name: 'p',
    source: 'kubernetes',
    address: '10.1.2.3:9000',
    metricsAddress: '10.1.2.3:9100',
    model: 'llama',
    labels: { gpu: 'a100', 'model.aibrix.ai/name': 'llama' },
    ready: true
  })
  t.match(toPod(pod('p', { model: 'm', ip: '10.0.0.1' })), { address: '10.0.0.1:8000', metricsAddress: '10.0.0.1:8000' }, 'default port 8000')
  t.match(toPod(pod('p', { model: 'm', ip: 'fd00::1', port: 8001 })), { address: '[fd00::1]:8001' }, 'IPv6')
  t.match(toPod(pod('p', { ip: '10.0.0.1', annotations: { 'model.aibrix.ai/name': 'from-annotation' } })), { model: 'from-annotation' })
  t.equal(toPod(pod('p', { ip: '10.0.0.1' })), undefined, 'no model → not a model pod')
  t.match(toPod(pod('p', { model: 'm', port: 'x' as unknown as number })), { address: '127.0.0.1:8000' }, 'bad port label → default')
})

t.test('ModelAdapter instances map adapters to pods of the same namespace', async (t) => {
  const map = adaptersByPod([makeAdapter('sql', ['p1', 'p2'], 'ns'), makeAdapter('chat', ['p1'], 'ns'), makeAdapter('other', ['p1'], 'ns2')])
  t.same(Object.fromEntries([...map].map(([k, v]) => [k, [...v].sort()])), { 'ns/p1': ['chat', 'sql'], 'ns/p2': ['sql'], 'ns2/p1': ['other'] })
})
