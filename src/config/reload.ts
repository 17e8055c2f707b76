import type { Config } from './schema.js'

/**
 * Settings a running gateway cannot change: the listening socket and its limits, the limit
 * store's connection, Kubernetes watches, scrape loops, outlier options, the admin API, the admission queue, tracing.
 * A reload keeps their old values and says which ones need a restart.
 */
export const RESTART_ONLY = [
  'server.host',
  'server.port',
  'server.bodyLimitBytes',
  'server.requestTimeoutMs',
  'server.streamIdleTimeoutMs',
  'server.bodyTimeoutMs',
  'server.shutdownGraceMs',
  'server.maxConnectionsPerClient',
  'server.logLevel',
  'server.logFlushMs',
  'server.watchConfig',
  'rateLimit.store',
  'routing.share',
  'rateLimit.redis',
  'discovery.kubernetes',
  'upstream.outlier',
  'telemetry',
  'admin',
  'admission',
  'tracing'
] as const

type Obj = Record<string, unknown>

const get = (o: unknown, path: string[]): unknown => path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o)

function set(o: Obj, path: string[], value: unknown): void {
  let cur = o
  for (const k of path.slice(0, -1)) cur = cur[k] as Obj
  if (value === undefined) delete cur[path[path.length - 1]]
  else cur[path[path.length - 1]] = value
}

export interface ReloadPlan {
  /** The config to run: the new file, with restart-only settings kept as they are. */
  config: Config
  /** Restart-only settings the new file changes (not applied). */
  restartNeeded: string[]
  /** Top-level sections whose effective value changes. */
  changed: string[]
}

/** What a reload from `current` to `next` (both validated) applies. Pure. */
export function planReload(current: Config, next: Config): ReloadPlan {
  const config = structuredClone(next) as unknown as Obj
  const restartNeeded: string[] = []
  for (const key of RESTART_ONLY) {
    const path = key.split('.')
    const before = get(current, path)
    if (JSON.stringify(before) !== JSON.stringify(get(next, path))) restartNeeded.push(key)
    if (get(config, path.slice(0, -1)) !== undefined || path.length === 1) set(config, path, structuredClone(before))
  }
  const changed = Object.keys({ ...current, ...config }).filter((k) => JSON.stringify((current as unknown as Obj)[k]) !== JSON.stringify(config[k]))
  return { config: config as unknown as Config, restartNeeded, changed }
}
