/**
 * npm run bench:limits — what per-user limits add to a request: one admission plus one settlement,
 * with the memory store and with Redis on loopback, against a bare Redis PING round trip measured
 * in the same run as the floor.
 */
import { Redis } from 'ioredis'
import { parseConfig } from '../src/config/load.js'
import { Limiter } from '../src/limits/limiter.js'
import { MemoryLimitStore } from '../src/limits/memory-store.js'
import { RedisLimitStore } from '../src/limits/redis-store.js'
import type { LimitStore } from '../src/limits/types.js'
import { silentLogger } from '../src/observability/logger.js'
import { fmt } from './lib.js'

const N = process.argv.includes('--quick') ? 2000 : 10000
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

function quantiles(samples: number[]): { p50: number; p99: number } {
  samples.sort((a, b) => a - b)
  return { p50: samples[Math.floor(samples.length * 0.5)], p99: samples[Math.floor(samples.length * 0.99)] }
}

async function time(fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await fn(-i - 1) // warm up (JIT, script cache)
  const samples: number[] = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    await fn(i)
    samples.push(performance.now() - t0)
  }
  return quantiles(samples)
}

function limiterFor(store: LimitStore): Limiter {
  const cfg = parseConfig({
    discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:1'] }] } },
    rateLimit: { users: [{ name: `bench-${process.pid}`, rpm: 1_000_000_000, tpm: 1_000_000_000 }] }
  })
  return new Limiter(store, cfg.rateLimit, silentLogger, { rejected: () => undefined, storeError: () => undefined })
}

async function main(): Promise<void> {
  const user = `bench-${process.pid}`
  const ping = new Redis(url)
  const pingTime = await time(() => ping.ping())
  ping.disconnect()

  const memory = limiterFor(new MemoryLimitStore())
  const memoryTime = await time(async (i) => (await memory.admit(user, `m${i}`, 100)).settle(42))

  const redisStore = new RedisLimitStore({ url, commandTimeoutMs: 1000 })
  await redisStore.connect()
  const redis = limiterFor(redisStore)
  const redisTime = await time(async (i) => (await redis.admit(user, `r${i}`, 100)).settle(42))
  await redisStore.close()

  console.log(`\n${N} sequential admissions + settlements; the window holds up to ${N} requests of one user\n`)
  console.log('| what | p50 ms | p99 ms |')
  console.log('|---|---:|---:|')
  console.log(`| Redis PING round trip (floor) | ${fmt(pingTime.p50, 3)} | ${fmt(pingTime.p99, 3)} |`)
  console.log(`| memory store: admit + settle | ${fmt(memoryTime.p50, 3)} | ${fmt(memoryTime.p99, 3)} |`)
  console.log(`| redis store: admit + settle (2 Lua scripts) | ${fmt(redisTime.p50, 3)} | ${fmt(redisTime.p99, 3)} |`)
  console.log(`\nredis admit+settle = ${fmt(redisTime.p50 / pingTime.p50, 1)} × a PING round trip; p50 ${fmt(redisTime.p50, 3)} ms (target ≤ 0.3 ms)`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
