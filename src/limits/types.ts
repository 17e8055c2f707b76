export interface Limits {
  rpm: number
  tpm: number
}

export interface UserRecord extends Limits {
  name: string
}

export const WINDOW_MS = 60_000

export interface AdmitInput {
  user: string
  /** Unique per request; the key its token reservation is settled under. */
  id: string
  reserveTokens: number
  now: number
  /** The user's limits from the config file, if listed there (the store's own record wins). */
  configLimits?: Limits
  /** Limits for users found nowhere (`unknownUser: default`); absent → unknown users are refused. */
  defaultLimits?: Limits
}

export interface WindowState {
  limits: Limits
  /** Requests in the window, this one included when admitted. */
  requests: number
  /** Tokens in the window (settled usage plus open reservations). */
  tokens: number
  /** Until the oldest counted request leaves the window. */
  resetRequestsMs: number
  /** Until the oldest counted tokens leave the window. */
  resetTokensMs: number
}

export type AdmitResult =
  | ({ ok: true } & WindowState)
  | ({ ok: false; reason: 'rpm' | 'tpm'; retryAfterMs: number } & WindowState)
  | { ok: false; reason: 'unknown_user' }

export interface SettleResult {
  tokens: number
  resetTokensMs: number
}

/** Where windows and store-managed users live: one process (memory) or shared (redis). */
export interface LimitStore {
  admit(input: AdmitInput): Promise<AdmitResult>
  /** Replaces request `id`'s reservation with the tokens it really used, counted from `now`. */
  settle(user: string, id: string, tokens: number, now: number): Promise<SettleResult>
  getUser(name: string): Promise<UserRecord | undefined>
  listUsers(): Promise<UserRecord[]>
  putUser(user: UserRecord): Promise<void>
  deleteUser(name: string): Promise<boolean>
  close(): Promise<void>
}
