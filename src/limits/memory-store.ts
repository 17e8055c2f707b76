import { WINDOW_MS, type AdmitInput, type AdmitResult, type LimitStore, type SettleResult, type UserRecord } from './types.js'

/** One user's sliding 60 s window: an exact log, so no burst can straddle a minute boundary. */
class UserWindow {
  /** Admission times, oldest first. */
  readonly requests: number[] = []
  /** request id → [time counted from, tokens]; Map order is time order (updates re-insert). */
  readonly tokens = new Map<string, [number, number]>()

  prune(now: number): void {
    const cutoff = now - WINDOW_MS
    let drop = 0
    while (drop < this.requests.length && this.requests[drop] <= cutoff) drop++
    if (drop > 0) this.requests.splice(0, drop)
    for (const [id, [t]] of this.tokens) {
      if (t > cutoff) break
      this.tokens.delete(id)
    }
  }

  tokenSum(): number {
    let sum = 0
    for (const [, n] of this.tokens.values()) sum += n
    return sum
  }

  /** Time until enough tokens expire that the window drops below `limit`. */
  tokensFreeInMs(limit: number, now: number): number {
    let sum = this.tokenSum()
    for (const [t, n] of this.tokens.values()) {
      if (sum < limit) break
      sum -= n
      if (sum < limit) return Math.max(1, t + WINDOW_MS - now)
    }
    return 0
  }

  oldestTokenResetMs(now: number): number {
    for (const [t] of this.tokens.values()) return Math.max(0, t + WINDOW_MS - now)
    return 0
  }
}

export class MemoryLimitStore implements LimitStore {
  private readonly windows = new Map<string, UserWindow>()
  private readonly users = new Map<string, UserRecord>()

  async admit(input: AdmitInput): Promise<AdmitResult> {
    const stored = this.users.get(input.user)
    const limits = stored ?? input.configLimits ?? input.defaultLimits
    if (!limits) return { ok: false, reason: 'unknown_user' }
    const { now } = input
    const w = this.window(input.user)
    w.prune(now)
    const tokens = w.tokenSum()
    const resetRequestsMs = w.requests.length > 0 ? w.requests[0] + WINDOW_MS - now : 0
    const state = { limits: { rpm: limits.rpm, tpm: limits.tpm }, requests: w.requests.length, tokens, resetRequestsMs, resetTokensMs: w.oldestTokenResetMs(now) }
    if (w.requests.length >= limits.rpm) {
      return { ok: false, reason: 'rpm', retryAfterMs: Math.max(1, w.requests[w.requests.length - limits.rpm] + WINDOW_MS - now), ...state }
    }
    if (tokens >= limits.tpm) return { ok: false, reason: 'tpm', retryAfterMs: w.tokensFreeInMs(limits.tpm, now), ...state }
    w.requests.push(now)
    w.tokens.set(input.id, [now, input.reserveTokens])
    return {
      ok: true,
      ...state,
      requests: w.requests.length,
      tokens: tokens + input.reserveTokens,
      resetRequestsMs: w.requests[0] + WINDOW_MS - now,
      resetTokensMs: w.oldestTokenResetMs(now)
    }
  }

  async settle(user: string, id: string, tokens: number, now: number): Promise<SettleResult> {
    const w = this.window(user)
    w.tokens.delete(id)
    w.tokens.set(id, [now, tokens])
    w.prune(now)
    return { tokens: w.tokenSum(), resetTokensMs: w.oldestTokenResetMs(now) }
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    return this.users.get(name)
  }

  async listUsers(): Promise<UserRecord[]> {
    return [...this.users.values()]
  }

  async putUser(user: UserRecord): Promise<void> {
    this.users.set(user.name, { ...user })
  }

  async deleteUser(name: string): Promise<boolean> {
    return this.users.delete(name)
  }

  async close(): Promise<void> {
    this.windows.clear()
  }

  private window(user: string): UserWindow {
    let w = this.windows.get(user)
    if (!w) {
      w = new UserWindow()
      this.windows.set(user, w)
    }
    return w
  }
}
