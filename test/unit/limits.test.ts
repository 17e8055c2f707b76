import t from 'tap'
import { formatReset, Limiter } from '../../src/limits/limiter.js'
import { MemoryLimitStore } from '../../src/limits/memory-store.js'
import { RedisLimitStore } from '../../src/limits/redis-store.js'
import type { LimitStore } from '../../src/limits/types.js'
import { GatewayError } from '../../src/errors/catalogue.js'
import { silentLogger } from '../../src/observability/logger.js'
import { parseConfig } from '../../src/config/load.js'
import { requireRedis } from '../helpers/redis.js'

const noMetrics = { rejected: () => undefined, storeError: () => undefined }

t.test('formatReset follows OpenAI', async (t) => {
  t.equal(formatReset(20), '20ms')
  t.equal(formatReset(1500), '1.5s')
  t.equal(formatReset(60_000), '1m0s')
})

// The same behaviour is required of both stores.
const stores: [string, () => Promise<LimitStore | undefined>][] = [
  ['memory', async () => new MemoryLimitStore()],
  [
    'redis',
    async () => {
      if (!(await requireRedis(t))) return undefined
      const s = new RedisLimitStore({ url: 'redis://127.0.0.1:6379', commandTimeoutMs: 500 })
      await s.connect()
      return s
    }
  ]
]

for (const [name, make] of stores) {
  t.test(`${name} store`, async (t) => {
    const store = await make()
    if (!store) return
    t.teardown(() => store.close())
    const user = `u-${name}-${process.pid}-${Date.now()}`
    const limits = { rpm: 3, tpm: 1000 }

    t.test('sliding window: no burst across a minute boundary', async (t) => {
      const u = `${user}-window`
      const base = 1_000_000_020_000 // 20 s into a calendar minute
      // 3 requests at 0:50 of a minute...
      for (let i = 0; i < 3; i++) t.ok((await store.admit({ user: u, id: `a${i}`, reserveTokens: 1, now: base + 30_000 + i, configLimits: limits })).ok)
      // ...so at 1:05 (a fixed-window limiter would have reset) the window still holds them
      const refused = await store.admit({ user: u, id: 'b', reserveTokens: 1, now: base + 45_000, configLimits: limits })
      t.match(refused, { ok: false, reason: 'rpm' })
      if (!refused.ok && refused.reason === 'rpm') t.equal(refused.retryAfterMs, 45_000, 'until the oldest leaves the window')
      // 60 s after the first, one slot frees
      t.ok((await store.admit({ user: u, id: 'c', reserveTokens: 1, now: base + 90_000, configLimits: limits })).ok)
      t.match(await store.admit({ user: u, id: 'd', reserveTokens: 1, now: base + 90_000, configLimits: limits }), { ok: false, reason: 'rpm' })
    })

    t.test('tokens: reserve, settle to actual, refuse when the window is full', async (t) => {
      const u = `${user}-tokens`
      const now = 2_000_000_000_000
      const first = await store.admit({ user: u, id: 'r1', reserveTokens: 600, now, configLimits: { rpm: 100, tpm: 1000 } })
      t.match(first, { ok: true, tokens: 600 })
      t.match(await store.settle(u, 'r1', 900, now + 1000), { tokens: 900 })
      t.ok((await store.admit({ user: u, id: 'r2', reserveTokens: 200, now: now + 2000, configLimits: { rpm: 100, tpm: 1000 } })).ok, '900 < 1000')
      await store.settle(u, 'r2', 200, now + 3000)
      const refused = await store.admit({ user: u, id: 'r3', reserveTokens: 1, now: now + 4000, configLimits: { rpm: 100, tpm: 1000 } })
      t.match(refused, { ok: false, reason: 'tpm', tokens: 1100 })
      if (!refused.ok && refused.reason === 'tpm') t.equal(refused.retryAfterMs, 57_000, 'when the 900 settled at +1 s leave')
      t.ok((await store.admit({ user: u, id: 'r4', reserveTokens: 1, now: now + 61_001, configLimits: { rpm: 100, tpm: 1000 } })).ok)
    })

    t.test('unknown users: refused, or given the default limits', async (t) => {
      t.match(await store.admit({ user: `${user}-ghost`, id: 'x', reserveTokens: 1, now: 1 }), { ok: false, reason: 'unknown_user' })
      t.match(await store.admit({ user: `${user}-ghost`, id: 'x', reserveTokens: 1, now: 1, defaultLimits: { rpm: 7, tpm: 70 } }), { ok: true, limits: { rpm: 7, tpm: 70 } })
    })

    t.test('store users override config limits and can be removed', async (t) => {
      const u = `${user}-admin`
      await store.putUser({ name: u, rpm: 1, tpm: 10 })
      t.same(await store.getUser(u), { name: u, rpm: 1, tpm: 10 })
      t.ok((await store.listUsers()).some((x) => x.name === u))
      t.match(await store.admit({ user: u, id: 'a', reserveTokens: 1, now: 5, configLimits: { rpm: 100, tpm: 100 } }), { ok: true, limits: { rpm: 1 } })
      t.match(await store.admit({ user: u, id: 'b', reserveTokens: 1, now: 6, configLimits: { rpm: 100, tpm: 100 } }), { ok: false, reason: 'rpm' })
      t.equal(await store.deleteUser(u), true)
      t.equal(await store.deleteUser(u), false)
    })
  })
}

t.test('limiter: 429 carries Retry-After and OpenAI headers; reservation uses max_tokens', async (t) => {
  const cfg = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } }, rateLimit: { users: [{ name: 'a', rpm: 1, tpm: 100 }], maxReserveTokens: 50 } })
  let now = 10_000
  const limiter = new Limiter(new MemoryLimitStore(), cfg.rateLimit, silentLogger, noMetrics, () => now)
  t.equal(limiter.reserveFor(400, 10), 110)
  t.equal(limiter.reserveFor(400, undefined), 150, 'capped at maxReserveTokens')
  const adm = await limiter.admit('a', 'r1', 20)
  t.equal(adm.headers['x-update-rpm'], '1')
  t.equal(adm.headers['x-ratelimit-remaining-requests'], '0')
  now += 1500
  t.same(await adm.settle(30), { 'x-update-tpm': '30', 'x-ratelimit-remaining-tokens': '70', 'x-ratelimit-reset-tokens': '1m0s' })
  const err = await limiter.admit('a', 'r2', 1).catch((e: unknown) => e)
  t.ok(err instanceof GatewayError)
  t.equal((err as GatewayError).status, 429)
  t.equal((err as GatewayError).headers['retry-after'], '59')
  t.equal((err as GatewayError).headers['retry-after-ms'], '58500', 'the OpenAI SDK waits this, not a fixed minute')
  t.equal((err as GatewayError).headers['x-ratelimit-reset-requests'], '58.5s')
  t.equal((err as GatewayError).headers['x-error-rpm-exceeded'], 'true')
})

t.test('limiter: Retry-After is when the window\'s oldest request expires, not a fixed 60 s', async (t) => {
  const cfg = parseConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } }, rateLimit: { users: [{ name: 'a', rpm: 3, tpm: 100000 }] } })
  let now = 0
  const limiter = new Limiter(new MemoryLimitStore(), cfg.rateLimit, silentLogger, noMetrics, () => now)
  for (const at of [0, 40_000, 50_000]) {
    now = at
    await limiter.admit('a', `r${at}`, 1)
  }
  now = 55_000
  const err = (await limiter.admit('a', 'late', 1).catch((e: unknown) => e)) as GatewayError
  t.equal(err.status, 429)
  t.equal(err.headers['retry-after-ms'], '5000', 'the request of t=0 leaves the window at t=60 s')
  t.equal(err.headers['retry-after'], '5')
  now = 60_001
  t.ok(await limiter.admit('a', 'after', 1), 'admitted once it has')
})
