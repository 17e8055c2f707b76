import t, { type Test } from 'tap'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { FakeKube, makeAdapter, makePod } from '../fixtures/fake-kube.js'
import { eventually } from '../helpers/eventually.js'
import { startGateway } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'

// Kubernetes discovery through the real @kubernetes/client-node against a fake API server.
let sims: SimServer[]
const port = (i: number) => Number(sims[i].address.split(':')[1])

t.before(async () => {
  sims = await Promise.all([0, 1, 2].map(() => startSim({ model: 'm', loras: ['polled-lora'], timeScale: 0 })))
})
t.teardown(() => Promise.all(sims.map((s) => s.close())))

async function setup(t: Test, k8s: Record<string, unknown> = {}) {
  const kube = await new FakeKube().start()
  process.env.KUBECONFIG = kube.kubeconfig()
  const gw = await startGateway({ discovery: { kubernetes: { adapterPollSeconds: 0, ...k8s } } })
  t.teardown(async () => {
    await gw.close()
    await kube.close()
  })
  const route = async (model = 'm') => {
    const res = await post(`${gw.url}/v1/chat/completions`, chat(model, { max_tokens: 1 }))
    await res.arrayBuffer()
    return { status: res.status, pod: res.headers.get('target-pod'), ip: res.headers.get('target-pod-ip') }
  }
  const ready = () => eventually(async () => (await fetch(`${gw.url}/readyz`)).status === 200, 5000, 'readiness')
  return { kube, gw, route, ready }
}

t.test('pods come, turn ready and unready, terminate and go', async (t) => {
  const { kube, gw, route, ready } = await setup(t)
  t.equal((await fetch(`${gw.url}/readyz`)).status, 503, 'not ready before the first list')
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0), ready: false }))
  await ready()
  t.equal((await route()).status, 503, 'known but not ready → 503')
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0) }))
  await eventually(async () => (await route()).status === 200, 5000, 'pod-a ready')
  t.same(await route(), { status: 200, pod: 'pod-a', ip: sims[0].address })
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0), deleting: true }))
  await eventually(async () => (await route()).status === 503, 5000, 'terminating pod out of rotation')
  kube.delete('pods', 'default', 'pod-a')
  await eventually(async () => (await route()).status === 404, 5000, 'deleted pod → model unknown')
})

t.test('a changed IP or port label moves traffic; labels are kept', async (t) => {
  const { kube, gw, route, ready } = await setup(t)
  kube.apply('pods', makePod('p', { model: 'm', port: port(0), labels: { gpu: 'h100' } }))
  await ready()
  await eventually(async () => (await route()).ip === sims[0].address)
  kube.apply('pods', makePod('p', { model: 'm', port: port(1), labels: { gpu: 'h100' } }))
  await eventually(async () => (await route()).ip === sims[1].address, 5000, 'new port')
  kube.apply('pods', makePod('p', { model: 'm', ip: '127.0.0.2', port: port(1) }))
  await eventually(async () => gw.gateway.registry.get('default/p')?.address === `127.0.0.2:${port(1)}`, 5000, 'new IP')
  t.equal(gw.gateway.registry.get('default/p')?.metricsAddress, `127.0.0.2:${port(1)}`, 'metrics port defaults to the serving port')
})

t.test('model from the annotation when a custom selector admits unlabelled pods; namespace filter', async (t) => {
  const { kube, route, ready } = await setup(t, { namespaces: ['team-a'], labelSelector: 'app=vllm' })
  kube.apply('pods', makePod('in-ns', { namespace: 'team-a', port: port(0), labels: { app: 'vllm' }, annotations: { 'model.aibrix.ai/name': 'm' } }))
  kube.apply('pods', makePod('other-ns', { namespace: 'team-b', model: 'm', port: port(1), labels: { app: 'vllm' } }))
  kube.apply('pods', makePod('not-selected', { namespace: 'team-a', model: 'm', port: port(2) }))
  await ready()
  const pods = new Set<string | null>()
  for (let i = 0; i < 20; i++) pods.add((await route()).pod)
  t.same([...pods], ['in-ns'])
})

t.test('a dropped watch resumes and sees later changes', async (t) => {
  const { kube, route, ready } = await setup(t)
  kube.apply('pods', makePod('a', { model: 'm', port: port(0) }))
  await ready()
  await eventually(() => kube.openWatches() >= 1, 5000, 'watch open')
  const watchesBefore = kube.watchCalls
  kube.dropWatches()
  await eventually(() => kube.watchCalls > watchesBefore, 5000, 'watch re-established')
  kube.apply('pods', makePod('b', { model: 'x', port: port(1) }))
  await eventually(async () => (await route('x')).pod === 'b', 5000, 'pod added after the drop')
})

t.test('410 Gone: the client relists and a delete lost meanwhile is healed', async (t) => {
  const { kube, route, ready } = await setup(t)
  kube.apply('pods', makePod('a', { model: 'm', port: port(0) }))
  kube.apply('pods', makePod('b', { model: 'm', port: port(1) }))
  await ready()
  await eventually(() => kube.openWatches() >= 1)
  const lists = kube.listCalls
  kube.delete('pods', 'default', 'b', { silent: true })
  kube.expireHistory()
  await eventually(() => kube.listCalls > lists, 5000, 'relist after 410')
  await eventually(async () => {
    const seen = new Set<string | null>()
    for (let i = 0; i < 10; i++) seen.add((await route()).pod)
    return seen.size === 1 && seen.has('a')
  }, 5000, 'b gone after the relist')
})

t.test('a DELETE the watch never delivered is healed by the periodic relist', async (t) => {
  const { kube, gw, ready } = await setup(t, { resyncSeconds: 1 })
  kube.apply('pods', makePod('ghost', { model: 'm', port: port(0) }))
  await ready()
  await eventually(() => kube.openWatches() >= 1)
  kube.delete('pods', 'default', 'ghost', { silent: true })
  t.ok(gw.gateway.registry.get('default/ghost'), 'still there right after the silent delete')
  await eventually(() => gw.gateway.registry.get('default/ghost') === undefined, 4000, 'removed by resync')
})

t.test('ModelAdapter instances decide which pods serve an adapter', async (t) => {
  const { kube, gw, route, ready } = await setup(t)
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0) }))
  kube.apply('pods', makePod('pod-b', { model: 'm', port: port(1) }))
  kube.apply('modeladapters', makeAdapter('sql-lora', ['pod-a']))
  await ready()
  await eventually(async () => (await route('sql-lora')).pod === 'pod-a', 5000, 'adapter on pod-a')
  const models = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string; parent?: string }[] }
  t.same(models.data.map((m) => [m.id, m.parent]), [['m', undefined], ['sql-lora', 'm']])
  kube.apply('modeladapters', makeAdapter('sql-lora', ['pod-b']))
  await eventually(async () => {
    const seen = new Set<string | null>()
    for (let i = 0; i < 10; i++) seen.add((await route('sql-lora')).pod)
    return seen.size === 1 && seen.has('pod-b')
  }, 5000, 'adapter moved to pod-b')
  kube.delete('modeladapters', 'default', 'sql-lora')
  await eventually(async () => (await route('sql-lora')).status === 404, 5000, 'adapter gone')
})

t.test('adapters loaded without the CRD are learned from /v1/models', async (t) => {
  const { kube, route, ready } = await setup(t, { adapterPollSeconds: 1, watchModelAdapters: false })
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0) }))
  await ready()
  await eventually(async () => (await route('polled-lora')).pod === 'pod-a', 5000, 'polled adapter routes')
})

t.test('an adapter only a new pod serves routes within 2 s of the pod becoming ready (not at the next poll)', async (t) => {
  const { kube, route, ready } = await setup(t, { adapterPollSeconds: 30, watchModelAdapters: false })
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0), ready: false }))
  await ready()
  t.equal((await route('polled-lora')).status, 404, 'unknown while no ready pod serves it')
  kube.apply('pods', makePod('pod-a', { model: 'm', port: port(0) }))
  await eventually(async () => (await route('polled-lora')).pod === 'pod-a', 2000, 'adapter learned from the new pod at once')
})

t.test('readiness waits for the API server; watch restarts are counted', async (t) => {
  const kube = await new FakeKube().start()
  kube.failLists = 2
  process.env.KUBECONFIG = kube.kubeconfig()
  const gw = await startGateway({ discovery: { kubernetes: { adapterPollSeconds: 0, watchModelAdapters: false } } })
  t.teardown(async () => {
    await gw.close()
    await kube.close()
  })
  t.equal((await fetch(`${gw.url}/readyz`)).status, 503)
  await eventually(async () => (await fetch(`${gw.url}/readyz`)).status === 200, 8000, 'ready after the API server recovers')
  await eventually(() => kube.openWatches() >= 1)
  kube.failLists = 1
  kube.expireHistory() // the relist after 410 fails once → informer error → restart with backoff
  await eventually(async () => /brixgate_discovery_watch_restarts_total\{resource="pods"\} [1-9]/.test(await (await fetch(`${gw.url}/metrics`)).text()), 8000, 'restart counted')
})

t.test('a stream on a removed pod finishes; new requests avoid the pod', async (t) => {
  const slow = await startSim({ model: 'm', decodeMsPerToken: 20, overheadMs: 0, prefillMsPerToken: 0 })
  t.teardown(() => slow.close())
  const { kube, route, ready, gw } = await setup(t)
  kube.apply('pods', makePod('slow', { model: 'm', port: Number(slow.address.split(':')[1]) }))
  await ready()
  await eventually(async () => (await route()).pod === 'slow')
  const res = await post(`${gw.url}/v1/chat/completions`, chat('m', { stream: true, max_tokens: 20 }))
  kube.apply('pods', makePod('fast', { model: 'm', port: port(0) }))
  kube.delete('pods', 'default', 'slow')
  await eventually(async () => (await route()).pod === 'fast', 5000, 'traffic moved')
  const text = await res.text()
  t.match(text, /data: \[DONE\]\n\n$/, 'the running stream completed')
  t.equal(text.split('"content":').length - 1, 21, 'role chunk + 20 tokens')
})
