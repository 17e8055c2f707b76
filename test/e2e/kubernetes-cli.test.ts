import t from 'tap'
import OpenAI from 'openai'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { FakeKube, makePod } from '../fixtures/fake-kube.js'
import { eventually } from '../helpers/eventually.js'
import { spawnCli, writeConfig, type CliProcess } from '../helpers/gateway.js'

// The built CLI with discovery.kubernetes, KUBECONFIG pointing at the fake API server, simulated
// pods on 127.0.0.1 told apart by their port labels, and the openai client sending requests while
// pods come and go.
let kube: FakeKube
let sims: SimServer[]
let cli: CliProcess

t.before(async () => {
  sims = await Promise.all([0, 1, 2].map(() => startSim({ model: 'llama', timeScale: 0 })))
  kube = await new FakeKube().start()
  kube.apply('pods', makePod('pod-0', { model: 'llama', port: Number(sims[0].address.split(':')[1]) }))
  kube.apply('pods', makePod('pod-1', { model: 'llama', port: Number(sims[1].address.split(':')[1]) }))
  const file = writeConfig({ server: { host: '127.0.0.1', port: 0, logLevel: 'warn' }, discovery: { kubernetes: { adapterPollSeconds: 0 } } })
  cli = await spawnCli(['--config', file], { KUBECONFIG: kube.kubeconfig() })
})

t.teardown(async () => {
  await cli?.stop()
  await kube?.close()
  await Promise.all(sims.map((s) => s.close()))
})

t.test('requests keep succeeding while pods come and go', async (t) => {
  await eventually(async () => (await fetch(`${cli.url}/readyz`)).status === 200, 10_000, 'ready')
  const client = new OpenAI({ baseURL: `${cli.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const ask = async () => {
    const { data, response } = await client.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }).withResponse()
    t.equal(data.object, 'chat.completion')
    return response.headers.get('target-pod')
  }
  const before = new Set<string | null>()
  for (let i = 0; i < 10; i++) before.add(await ask())
  t.same([...before].sort(), ['pod-0', 'pod-1'])

  // pod-2 arrives, pod-0 leaves — with requests in flight the whole time
  let stop = false
  const seen: (string | null)[] = []
  const traffic = (async () => {
    while (!stop) seen.push(await ask())
  })()
  kube.apply('pods', makePod('pod-2', { model: 'llama', port: Number(sims[2].address.split(':')[1]) }))
  await eventually(() => seen.includes('pod-2'), 10_000, 'pod-2 receives traffic')
  kube.delete('pods', 'default', 'pod-0')
  const cut = seen.length
  await new Promise((r) => setTimeout(r, 300))
  const after = new Set<string | null>()
  for (let i = 0; i < 20; i++) after.add(await ask())
  stop = true
  await traffic
  t.notOk(after.has('pod-0'), 'no requests go to the deleted pod')
  t.same([...after].sort(), ['pod-1', 'pod-2'])
  t.ok(seen.length > cut, 'traffic continued across the change')
  const models = (await client.models.list()).data.map((m) => m.id)
  t.same(models, ['llama'])
})
