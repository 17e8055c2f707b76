import t from 'tap'
import { startSim } from '../../src/sim/server.js'
import { startGateway } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'
import { requireRedis } from '../helpers/redis.js'

// With Redis, replicas see each other's in-flight requests: least-request avoids a pod that is
// busy because of another replica.
t.test('least-request on replica B avoids the pod replica A is loading', async (t) => {
  if (!(await requireRedis(t))) return
  const slow = await startSim({ model: 'm', decodeMsPerToken: 20, prefillMsPerToken: 0, overheadMs: 0 })
  const idle = await startSim({ model: 'm', timeScale: 0 })
  const config = (name: string) => ({
    discovery: { static: { models: [{ name: 'm', endpoints: [{ address: slow.address, name: 'busy' }, { address: idle.address, name: 'idle' }] }] } },
    routing: { defaultStrategy: 'least-request' },
    rateLimit: { store: 'redis', unknownUser: 'default' },
    telemetry: { fleetSyncMs: 50, scrapeIntervalMs: 0 },
    server: { logLevel: name }
  })
  const a = await startGateway(config('silent'))
  const b = await startGateway(config('silent'))
  t.teardown(async () => {
    await a.close()
    await b.close()
    await slow.close()
    await idle.close()
  })
  // A: three long streams pinned to the busy pod
  const streams = await Promise.all(
    [0, 1, 2].map(() => post(`${a.url}/v1/chat/completions`, chat('m', { stream: true, max_tokens: 100 }), { 'routing-strategy': 'session-affinity', 'x-session-id': Buffer.from(slow.address).toString('base64') }))
  )
  t.equal(a.gateway.inflight.get(slow.address), 3)
  await new Promise((r) => setTimeout(r, 300)) // six sync intervals
  const picks: (string | null)[] = []
  for (let i = 0; i < 10; i++) {
    const res = await post(`${b.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }))
    await res.arrayBuffer()
    picks.push(res.headers.get('target-pod'))
  }
  // without sharing, B sees 0 in flight on both pods and splits at random
  t.same(new Set(picks), new Set(['idle']), 'B routes around the pod A keeps busy')
  for (const s of streams) await s.body?.cancel()
})
