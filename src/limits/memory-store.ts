import { WINDOW_MS, type AdmitInput, type AdmitResult, type LimitStore, type SettleResult, type UserRecord } from './types.js'

/** One user's sliding 60 s window: an exact log, so no burst can straddle a minute boundary. */
class UserWindow {
  /** Admission times, oldest first. */
  readonly requests: number[] = []
  /** request id → [time counted from, tokens]; Map order is time order (updates re-insert). */
  private readonly tokens = new Map<string, [number, number]>()
  /** Running sum of `tokens`, so reading the window is O(1). */
  private sum = 0

  setTokens(id: string, now: number, n: number): void {
    this.sum -= this.tokens.get(id)?.[1] ?? 0
    this.tokens.delete(id)
    this.tokens.set(id, [now, n])
    this.sum += n
  }

  prune(now: number): void {
    const cutoff = now - WINDOW_MS
    let drop = 0
    while (drop < this.requests.length && this.requests[drop] <= cutoff) drop++
    if (drop > 0) this.requests.splice(0, drop)
    for (const [id, [t, n]] of this.tokens) {
      if (t > cutoff) break
      this.tokens.delete(id)
      this.sum -= n
    }
  }

  isEmpty(): boolean {
    return this.requests.length === 0 && this.tokens.size === 0
  }

  tokenSum(): number {
    return this.sum
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
  private admissions = 0

  async admit(input: AdmitInput): Promise<AdmitResult> {
    const stored = this.users.get(input.user)
    const limits = stored ?? input.configLimits ?? input.defaultLimits
    if (!limits) return { ok: false, reason: 'unknown_user' }
    const { now } = input
    if (++this.admissions % 1000 === 0) this.sweep(now)
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
    w.setTokens(input.id, now, input.reserveTokens)
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
    w.setTokens(id, now, tokens)
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

  /** Forgets users whose windows emptied, so memory follows active users only. */
  private sweep(now: number): void {
    for (const [user, w] of this.windows) {
      w.prune(now)
      if (w.isEmpty()) this.windows.delete(user)
    }
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
