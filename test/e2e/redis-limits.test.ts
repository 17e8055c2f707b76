import t from 'tap'
import OpenAI from 'openai'
import { startSim, type SimServer } from '../../src/sim/server.js'
import { startBadBackend, type BadBackend } from '../helpers/backends.js'
import { spawnCli, startGateway, writeConfig, type CliProcess } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'
import { requireRedis, startPrivateRedis } from '../helpers/redis.js'

// Limits shared by gateway replicas through the machine's real Redis.
const run = `${process.pid}-${Date.now()}`
const ADMIN = 'admin-token-for-tests'
let sim: SimServer
let backend: BadBackend
let replicas: CliProcess[] = []

t.before(async () => {
  if (!(await requireRedis(t))) return
  sim = await startSim({ model: 'm', timeScale: 0 })
  backend = await startBadBackend()
  const file = writeConfig({
    server: { host: '127.0.0.1', port: 0, logLevel: 'error' },
    discovery: { static: { models: [{ name: 'm', endpoints: [sim.address] }, { name: 'slow-stream', endpoints: [backend.address] }] } },
    rateLimit: {
      store: 'redis',
      // generous: this test is about counting across replicas, and a command that times out on a
      // loaded CI machine would be admitted (onStoreError: open) and miscount the burst
      redis: { commandTimeoutMs: 5000 },
      users: [
        { name: `burst-${run}`, rpm: 10, tpm: 1_000_000 },
        { name: `stream-${run}`, rpm: 100, tpm: 40 },
        { name: `abort-${run}`, rpm: 100, tpm: 1_000_000 },
        { name: `warm-${run}`, rpm: 100, tpm: 1_000_000 }
      ]
    },
    admin: { token: ADMIN }
  })
  replicas = await Promise.all([spawnCli(['--config', file]), spawnCli(['--config', file])])
  // each replica's Redis connection and scripts are ready before anything is counted
  for (const r of replicas) await (await post(`${r.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { user: `warm-${run}` })).arrayBuffer()
})

t.teardown(async () => {
  await Promise.all(replicas.map((r) => r.stop()))
  await sim?.close()
  await backend?.close()
})

t.test('a burst of 5×rpm split across two replicas admits exactly rpm', async (t) => {
  if (replicas.length === 0) return
  const results = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const res = await post(`${replicas[i % 2].url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { user: `burst-${run}` })
      await res.arrayBuffer()
      return res.status
    })
  )
  t.equal(results.filter((s) => s === 200).length, 10)
  t.equal(results.filter((s) => s === 429).length, 40)
  for (const r of replicas) t.notMatch(await (await fetch(`${r.url}/metrics`)).text(), /brixgate_rate_limit_store_errors_total\{[^}]*\} [1-9]/, 'no store errors (no fail-open admissions)')
})

t.test('admin API on one replica applies on the other at once', async (t) => {
  if (replicas.length === 0) return
  const name = `new-${run}`
  const admin = (r: CliProcess, method: string, path: string, body?: unknown, token = ADMIN) =>
    fetch(`${r.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  t.equal((await admin(replicas[0], 'GET', '/admin/users', undefined, 'wrong-token')).status, 401)
  t.equal((await post(`${replicas[1].url}/v1/chat/completions`, chat('m'), { user: name })).status, 403, 'unknown before')
  t.equal((await admin(replicas[0], 'POST', '/admin/users', { name, rpm: 1, tpm: 1000 })).status, 201)
  t.equal((await admin(replicas[0], 'POST', '/admin/users', { name, rpm: 1, tpm: 1000 })).status, 409)
  t.equal((await admin(replicas[0], 'POST', '/admin/users', { name: 'x', rpm: -1 })).status, 400)
  t.equal((await post(`${replicas[1].url}/v1/chat/completions`, chat('m'), { user: name })).status, 200, 'known on the other replica')
  t.equal((await post(`${replicas[1].url}/v1/chat/completions`, chat('m'), { user: name })).status, 429, 'its rpm of 1 applies')
  t.same(await (await admin(replicas[1], 'GET', `/admin/users/${name}`)).json(), { name, rpm: 1, tpm: 1000, source: 'store' })
  t.equal((await admin(replicas[1], 'PUT', `/admin/users/${name}`, { name, rpm: 5, tpm: 1000 })).status, 200)
  t.equal((await post(`${replicas[0].url}/v1/chat/completions`, chat('m'), { user: name })).status, 200, 'raised limit applies')
  t.equal((await admin(replicas[0], 'POST', '/ReadUser', { name })).status, 200, 'AIBrix-style API')
  t.equal((await admin(replicas[0], 'DELETE', `/admin/users/${name}`)).status, 200)
  t.equal((await post(`${replicas[1].url}/v1/chat/completions`, chat('m'), { user: name })).status, 403, 'gone again')
})

t.test('streamed usage is counted against TPM', async (t) => {
  if (replicas.length === 0) return
  const user = `stream-${run}`
  const client = new OpenAI({ baseURL: `${replicas[0].url}/v1`, apiKey: 'x', maxRetries: 0, defaultHeaders: { user } })
  const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(40) }], max_tokens: 30, stream: true })
  for await (const _ of stream) void _
  await new Promise((r) => setTimeout(r, 100))
  const res = await post(`${replicas[1].url}/v1/chat/completions`, chat('m'), { user })
  t.equal(res.status, 429, '10 prompt + 30 completion tokens fill a 40-token window')
  t.equal(res.headers.get('x-error-tpm-exceeded'), 'true')
})

t.test('a stream aborted by the client keeps its reservation', async (t) => {
  if (replicas.length === 0) return
  const user = `abort-${run}`
  const ac = new AbortController()
  const res = await fetch(`${replicas[0].url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', user },
    body: JSON.stringify(chat('slow-stream', { stream: true, max_tokens: 100 })),
    signal: ac.signal
  })
  await res.body!.getReader().read()
  ac.abort()
  await new Promise((r) => setTimeout(r, 200))
  const next = await post(`${replicas[1].url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { user })
  await next.arrayBuffer()
  const remaining = Number(next.headers.get('x-ratelimit-remaining-tokens'))
  t.ok(1_000_000 - remaining >= 100, `the aborted request's reservation (≥100 tokens) still counts: ${1_000_000 - remaining}`)
})

t.test('Redis stopped mid-test: requests fail open without hanging', async (t) => {
  if (replicas.length === 0) return
  const redis = await startPrivateRedis()
  const gw = await startGateway({
    discovery: { static: { models: [{ name: 'm', endpoints: [sim.address] }] } },
    rateLimit: { store: 'redis', redis: { url: redis.url, commandTimeoutMs: 100 }, users: [{ name: 'u', rpm: 100, tpm: 100000 }] }
  })
  t.teardown(gw.close)
  const before = await post(`${gw.url}/v1/chat/completions`, chat('m'), { user: 'u' })
  t.equal(before.headers.get('x-update-rpm'), '1', 'counted in Redis')
  await redis.stop()
  const started = Date.now()
  const during = await post(`${gw.url}/v1/chat/completions`, chat('m'), { user: 'u' })
  t.equal(during.status, 200)
  t.equal(during.headers.get('x-error-incr-rpm'), 'true')
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`)
})

t.test('the openai client gets RateLimitError and its retry honours Retry-After', async (t) => {
  if (replicas.length === 0) return
  let offset = -59_000 // the first request looks 59 s old, so its tokens leave the window in ~1 s
  const gw = await startGateway(
    {
      discovery: { static: { models: [{ name: 'm', endpoints: [sim.address] }] } },
      rateLimit: { store: 'redis', users: [{ name: `retry-${run}`, rpm: 100, tpm: 20 }] }
    },
    { clock: () => Date.now() + offset }
  )
  t.teardown(gw.close)
  const headers = { user: `retry-${run}` }
  const noRetry = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 0, defaultHeaders: headers })
  await noRetry.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 })
  offset = 0
  const err = await noRetry.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }).catch((e: unknown) => e)
  t.equal((err as Error).constructor.name, 'RateLimitError')
  t.equal((err as { status?: number }).status, 429)
  const retrying = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'x', maxRetries: 2, defaultHeaders: headers })
  const started = Date.now()
  const res = await retrying.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 })
  t.equal(res.object, 'chat.completion')
  t.ok(Date.now() - started >= 500, `waited for Retry-After before succeeding (${Date.now() - started} ms)`)
})

t.test('Redis stopped (SIGSTOP) under load: no request waits past the command timeout; fail open or closed as configured', async (t) => {
  if (replicas.length === 0) return
  const redis = await startPrivateRedis()
  t.teardown(async () => {
    redis.child.kill('SIGCONT')
    await redis.stop()
  })
  const config = (onStoreError: 'open' | 'closed') => ({
    discovery: { static: { models: [{ name: 'm', endpoints: [sim.address] }] } },
    rateLimit: { store: 'redis', onStoreError, redis: { url: redis.url, commandTimeoutMs: 100 }, users: [{ name: 'u', rpm: 100000, tpm: 100000000 }] }
  })
  const open = await startGateway(config('open'))
  const closed = await startGateway(config('closed'))
  t.teardown(async () => {
    await open.close()
    await closed.close()
  })
  for (const gw of [open, closed]) t.equal((await post(`${gw.url}/v1/chat/completions`, chat('m'), { user: 'u' })).status, 200, 'counted while Redis runs')
  redis.child.kill('SIGSTOP')
  const burst = async (url: string) =>
    Promise.all(
      Array.from({ length: 40 }, async () => {
        const started = Date.now()
        const res = await post(`${url}/v1/chat/completions`, chat('m'), { user: 'u' })
        await res.arrayBuffer()
        return { status: res.status, incr: res.headers.get('x-error-incr-rpm'), ms: Date.now() - started }
      })
    )
  const openResults = await burst(open.url)
  t.same([...new Set(openResults.map((r) => `${r.status} ${r.incr}`))], ['200 true'], 'fail open: answered, flagged')
  const closedResults = await burst(closed.url)
  t.same([...new Set(closedResults.map((r) => `${r.status} ${r.incr}`))], ['503 true'], 'fail closed: 503, flagged')
  const slowest = Math.max(...openResults.map((r) => r.ms), ...closedResults.map((r) => r.ms))
  t.ok(slowest < 1000, `slowest answer ${slowest} ms with a 100 ms command timeout (the store never blocks a request for long)`)
})
