import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import { GatewayError } from '../errors/catalogue.js'
import type { AdmitResult, Limits, LimitStore, WindowState } from './types.js'

export interface LimiterMetrics {
  rejected(reason: string): void
  storeError(op: 'admit' | 'settle'): void
}

/** An admitted request: headers to send and the settlement to run when it ends. */
export interface Admission {
  headers: Record<string, string>
  /** The user's window after admission (tokens updated by settle); absent when the store failed open. */
  window?: { requests: number; tokens: number; rpm: number; tpm: number }
  /** Records actual usage (undefined = keep the reservation); resolves headers for x-update-tpm. */
  settle(tokens: number | undefined): Promise<Record<string, string>>
}

/** OpenAI's reset format: "20ms", "1.5s", "1m0s". */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const s = ms / 1000
  if (s < 60) return `${Number(s.toFixed(3))}s`
  return `${Math.floor(s / 60)}m${Number((s % 60).toFixed(3))}s`
}

export function rateLimitHeaders(state: WindowState): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(state.limits.rpm),
    'x-ratelimit-remaining-requests': String(Math.max(0, state.limits.rpm - state.requests)),
    'x-ratelimit-reset-requests': formatReset(state.resetRequestsMs),
    'x-ratelimit-limit-tokens': String(state.limits.tpm),
    'x-ratelimit-remaining-tokens': String(Math.max(0, state.limits.tpm - state.tokens)),
    'x-ratelimit-reset-tokens': formatReset(state.resetTokensMs)
  }
}

/**
 * Per-user RPM/TPM policy over a LimitStore: reserve at admission, settle at the end,
 * and what to do when the store fails (`onStoreError`).
 */
export class Limiter {
  private configUsers: Map<string, Limits>

  constructor(
    readonly store: LimitStore,
    private config: Config['rateLimit'],
    private readonly logger: Logger,
    private readonly metrics: LimiterMetrics,
    private readonly clock: () => number = Date.now
  ) {
    this.configUsers = new Map(config.users.map((u) => [u.name, { rpm: u.rpm, tpm: u.tpm }]))
  }

  /** Users, default limits and policies for the next request (config reload; the store stays). */
  reconfigure(config: Config['rateLimit']): void {
    this.config = config
    this.configUsers = new Map(config.users.map((u) => [u.name, { rpm: u.rpm, tpm: u.tpm }]))
  }

  configUserNames(): string[] {
    return [...this.configUsers.keys()]
  }

  configUser(name: string): Limits | undefined {
    return this.configUsers.get(name)
  }

  /** Tokens reserved at admission: prompt estimated from body size, plus the completion budget (capped). */
  reserveFor(bodyBytes: number, maxTokens: number | undefined): number {
    const prompt = Math.ceil(bodyBytes / 4)
    const completion = Math.min(maxTokens ?? this.config.maxReserveTokens, this.config.maxReserveTokens)
    return prompt + Math.max(0, completion)
  }

  async admit(user: string, id: string, reserveTokens: number): Promise<Admission> {
    let result: AdmitResult
    try {
      result = await this.store.admit({
        user,
        id,
        reserveTokens,
        now: this.clock(),
        configLimits: this.configUsers.get(user),
        defaultLimits: this.config.unknownUser === 'default' ? this.config.defaultLimits : undefined
      })
    } catch (err) {
      return this.storeFailed('admit', err)
    }
    if (!result.ok) {
      this.metrics.rejected(result.reason)
      if (result.reason === 'unknown_user') throw new GatewayError('unknown_user', user)
      // the true wait of a sliding window: until enough of the window's oldest entries expire
      const waitMs = Math.max(1, Math.ceil(result.retryAfterMs))
      const headers: Record<string, string> = { ...rateLimitHeaders(result), 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))), 'retry-after-ms': String(waitMs) }
      headers[result.reason === 'rpm' ? 'x-ratelimit-reset-requests' : 'x-ratelimit-reset-tokens'] = formatReset(waitMs)
      const detail = result.reason === 'rpm' ? `limit ${result.limits.rpm}, used ${result.requests}` : `limit ${result.limits.tpm}, used ${result.tokens}`
      throw new GatewayError(result.reason === 'rpm' ? 'rpm_exceeded' : 'tpm_exceeded', detail, { headers })
    }
    const state = result
    const window = { requests: state.requests, tokens: state.tokens, rpm: state.limits.rpm, tpm: state.limits.tpm }
    return {
      headers: { ...rateLimitHeaders(state), 'x-update-rpm': String(state.requests) },
      window,
      settle: async (tokens): Promise<Record<string, string>> => {
        try {
          const settled = await this.store.settle(user, id, tokens ?? reserveTokens, this.clock())
          window.tokens = settled.tokens
          return {
            'x-update-tpm': String(settled.tokens),
            'x-ratelimit-remaining-tokens': String(Math.max(0, state.limits.tpm - settled.tokens)),
            'x-ratelimit-reset-tokens': formatReset(settled.resetTokensMs)
          }
        } catch (err) {
          this.metrics.storeError('settle')
          this.logger.warn({ err, user }, 'rate-limit store failed to settle usage')
          return { 'x-error-incr-tpm': 'true' }
        }
      }
    }
  }

  private storeFailed(op: 'admit', err: unknown): Admission {
    this.metrics.storeError(op)
    this.logger.warn({ err: (err as Error).message }, `rate-limit store failed; failing ${this.config.onStoreError}`)
    // fail closed: the catalogue entry carries the debug headers; fail open: the same headers on the answer
    const failed = new GatewayError('store_failed')
    if (this.config.onStoreError === 'closed') throw failed
    return { headers: failed.headers, settle: async () => ({}) }
  }
}
