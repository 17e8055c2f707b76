import { Redis } from 'ioredis'
import { admitLua } from './lua-admit.js'
import { settleLua } from './lua-settle.js'
import { WINDOW_MS, type AdmitInput, type AdmitResult, type LimitStore, type SettleResult, type UserRecord } from './types.js'

const USERS_KEY = 'brixgate:users'
const windowKeys = (user: string) => {
  const k = `brixgate:rl:{${user}}`
  return { requests: `${k}:r`, tokenLog: `${k}:t`, tokenAmounts: `${k}:a`, tokenSum: `${k}:s` }
}

type ScriptRedis = Redis & {
  bgAdmit(...args: (string | number)[]): Promise<number[]>
  bgSettle(...args: (string | number)[]): Promise<number[]>
}

export interface RedisStoreOptions {
  url: string
  /** A request never waits on Redis longer than this. */
  commandTimeoutMs: number
}

/**
 * Windows and users shared by every gateway replica. Admission and settlement are one Lua
 * script each, so replicas cannot both take the last slot. Keys expire a second after the window; a running token sum keeps each call O(log n).
 */
export class RedisLimitStore implements LimitStore {
  readonly redis: ScriptRedis

  constructor(opts: RedisStoreOptions) {
    this.redis = new Redis(opts.url, {
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: 2000,
      maxRetriesPerRequest: 0,
      // Fail at once while disconnected instead of queueing requests behind a dead server.
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: (times) => Math.min(100 * times, 2000)
    }) as ScriptRedis
    this.redis.on('error', () => undefined) // surfaced per command; reconnects by itself
    this.redis.defineCommand('bgAdmit', { numberOfKeys: 5, lua: admitLua })
    this.redis.defineCommand('bgSettle', { numberOfKeys: 3, lua: settleLua })
  }

  /** Connects; resolves false (and keeps retrying in the background) if Redis does not answer. */
  async connect(): Promise<boolean> {
    try {
      await this.redis.connect()
      return true
    } catch {
      return false
    }
  }

  async admit(input: AdmitInput): Promise<AdmitResult> {
    const cfg = input.configLimits
    const def = input.defaultLimits
    const k = windowKeys(input.user)
    const r = await this.redis.bgAdmit(
      k.requests, k.tokenLog, k.tokenAmounts, k.tokenSum, USERS_KEY,
      input.now, input.id, input.reserveTokens, WINDOW_MS, input.user,
      cfg?.rpm ?? '', cfg?.tpm ?? '', def?.rpm ?? '', def?.tpm ?? ''
    )
    if (r[0] === -1) return { ok: false, reason: 'unknown_user' }
    const state = { limits: { rpm: r[1], tpm: r[2] }, requests: r[3], tokens: r[4], resetRequestsMs: r[5], resetTokensMs: r[6] }
    if (r[0] === 1) return { ok: true, ...state }
    return { ok: false, reason: r[7] === 1 ? 'rpm' : 'tpm', retryAfterMs: r[8], ...state }
  }

  async settle(user: string, id: string, tokens: number, now: number): Promise<SettleResult> {
    const k = windowKeys(user)
    const [sum, reset] = await this.redis.bgSettle(k.tokenLog, k.tokenAmounts, k.tokenSum, now, id, tokens, WINDOW_MS)
    return { tokens: sum, resetTokensMs: reset }
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const raw = await this.redis.hget(USERS_KEY, name)
    return raw ? (JSON.parse(raw) as UserRecord) : undefined
  }

  async listUsers(): Promise<UserRecord[]> {
    const all = await this.redis.hvals(USERS_KEY)
    return all.map((raw) => JSON.parse(raw) as UserRecord)
  }

  async putUser(user: UserRecord): Promise<void> {
    await this.redis.hset(USERS_KEY, user.name, JSON.stringify({ name: user.name, rpm: user.rpm, tpm: user.tpm }))
  }

  async deleteUser(name: string): Promise<boolean> {
    return (await this.redis.hdel(USERS_KEY, name)) > 0
  }

  async close(): Promise<void> {
    this.redis.disconnect()
  }
}
