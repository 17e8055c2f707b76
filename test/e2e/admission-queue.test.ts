import t from 'tap'
import OpenAI from 'openai'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { startGateway } from '../helpers/gateway.js'
import { eventually } from '../helpers/eventually.js'
import { expectOpenAIError, post } from '../helpers/http.js'

// The admission queue through a real gateway: one simulated pod that takes one request at a time
// (admission.maxInflightPerPod: 1), each ~300 ms long; requests wait in the gateway, by band.
const MODEL = 'm'
let sim: SimServer
let gw: Awaited<ReturnType<typeof startGateway>>
let client: OpenAI

t.before(async () => {
  sim = await startSim({ model: MODEL, timeScale: 1, decodeMsPerToken: 30, prefillMsPerToken: 0.01, overheadMs: 1 })
  gw = await startGateway({
    discovery: { static: { models: [{ name: MODEL, endpoints: [sim.address] }] } },
    rateLimit: { unknownUser: 'default', defaultLimits: { rpm: 10_000, tpm: 10_000_000 } },
    admission: {
      enabled: true,
      maxInflightPerPod: 1,
      users: { vip: 'critical' },
      bands: [
        { name: 'critical', priority: 10 },
        { name: 'standard', priority: 0, maxQueue: 3, queueTimeoutMs: 2500 },
        { name: 'sheddable', priority: -10, sheddable: true, queueTimeoutMs: 400 }
      ]
    }
  })
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 })
})

t.teardown(async () => {
  await gw?.close()
  await sim?.close()
})

const ask = (user: string, maxTokens = 10) =>
  client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `hello from ${user}` }], max_tokens: maxTokens }, { headers: { user } }).withResponse()

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n')
}

t.test('with the pod full, requests wait in the gateway and a critical user goes before standard ones queued earlier', async (t) => {
  const finished: string[] = []
  const track = (label: string, p: ReturnType<typeof ask>) => p.then((r) => (finished.push(label), r))
  const busy = track('busy', ask('someone'))
  await eventually(() => gw.gateway.inflight.get(sim.address) === 1, 2000, 'first request on the pod')
  const std1 = track('std-1', ask('alice'))
  const std2 = track('std-2', ask('bob'))
  await eventually(async () => /band="standard"} 2/.test(await metric('brixgate_admission_queue_depth')), 2000, 'two waiting')
  const status = (await (await fetch(`${gw.url}/admin/status`)).json()) as { admission: { model: string; band: string; waiting: number }[] }
  t.match(status.admission, [{ model: MODEL, band: 'critical', waiting: 0 }, { model: MODEL, band: 'standard', waiting: 2 }, { model: MODEL, band: 'sheddable', waiting: 0 }], 'the status JSON shows the queue')
  const vip = track('vip', ask('vip'))
  const results = await Promise.all([busy, std1, std2, vip])
  t.same(finished, ['busy', 'vip', 'std-1', 'std-2'])
  const timing = results[3].response.headers.get('server-timing') ?? ''
  t.match(timing, /queue;dur=\d+/, 'server-timing shows the wait')
  t.match(await metric('brixgate_admission_wait_seconds_count{band="critical"}'), /\} 1$/)
})

t.test('past its band\'s queue timeout a request gets 503 queue_timeout with Retry-After', async (t) => {
  const busy = ask('someone', 40)
  await eventually(() => gw.gateway.inflight.get(sim.address) === 1, 2000, 'pod busy')
  const started = Date.now()
  const res = await post(`${gw.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'batch job' }], max_tokens: 2 }, { user: 'carol', 'x-priority': 'sheddable' })
  const waited = Date.now() - started
  await expectOpenAIError(t, res, { status: 503, type: 'overloaded_error', code: 'queue_timeout', headers: { 'retry-after': '1', 'x-error-unavailable-reason': 'queue-timeout' } })
  t.ok(waited >= 380 && waited < 2000, `waited ${waited} ms (timeout 400)`)
  await busy
  t.match(await metric('brixgate_admission_rejected_total'), /band="sheddable",reason="timeout"} 1/)
})

t.test('a full band answers 503 queue_full at once, and the openai client sees an overloaded error', async (t) => {
  const busy = ask('someone')
  await eventually(() => gw.gateway.inflight.get(sim.address) === 1, 2000, 'pod busy')
  const queued = [ask('q1'), ask('q2'), ask('q3')]
  await eventually(async () => /band="standard"} 3/.test(await metric('brixgate_admission_queue_depth')), 2000, 'three waiting')
  const err = await ask('q4').catch((e: unknown) => e)
  t.type(err, OpenAI.APIError)
  t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 503)
  t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'queue_full')
  t.equal((err as InstanceType<typeof OpenAI.APIError>).headers?.get('x-error-unavailable-reason'), 'queue-full')
  await Promise.all([busy, ...queued])
})

t.test('a client that gives up while queued frees its place and its request never reaches the pod', async (t) => {
  const busy = ask('someone')
  await eventually(() => gw.gateway.inflight.get(sim.address) === 1, 2000, 'pod busy')
  const ac = new AbortController()
  const gone = client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'leaving' }], max_tokens: 2 }, { headers: { user: 'dave' }, signal: ac.signal }).catch((e: unknown) => e)
  await eventually(async () => /band="standard"} 1/.test(await metric('brixgate_admission_queue_depth')), 2000, 'one waiting')
  ac.abort()
  await gone
  await eventually(async () => /band="standard"} 0/.test(await metric('brixgate_admission_queue_depth')), 2000, 'queue empty')
  await busy
  t.equal(gw.gateway.inflight.get(sim.address), 0)
})

t.test('with every band together full, a sheddable request is dropped (503 queue_shed) to make room for a standard one', async (t) => {
  const small = await startGateway({
    discovery: { static: { models: [{ name: MODEL, endpoints: [sim.address] }] } },
    rateLimit: { unknownUser: 'default', defaultLimits: { rpm: 10_000, tpm: 10_000_000 } },
    admission: { enabled: true, maxInflightPerPod: 1, maxQueue: 2 }
  })
  t.teardown(small.close)
  const smallClient = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const send = (user: string, priority?: string) =>
    smallClient.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: `from ${user}` }], max_tokens: 10 }, { headers: { user, ...(priority ? { 'x-priority': priority } : {}) } })
      .then(
        () => 'served',
        (e: InstanceType<typeof OpenAI.APIError>) => `${e.status} ${e.code}`
      )
  const busy = send('someone')
  await eventually(() => small.gateway.inflight.get(sim.address) === 1, 2000, 'pod busy')
  const shed1 = send('batch-1', 'sheddable')
  const shed2 = send('batch-2', 'sheddable')
  await eventually(async () => /band="sheddable"} 2/.test(await (await fetch(`${small.url}/metrics`)).text()), 2000, 'two sheddable waiting')
  const standard = send('interactive')
  t.same(await Promise.all([busy, shed1, shed2, standard]), ['served', 'served', '503 queue_shed', 'served'], 'the newest sheddable request made room')
})
