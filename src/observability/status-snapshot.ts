import type { Pod } from '../discovery/pod.js'
import type { PodRegistry } from '../discovery/registry.js'
import { gpuOf, type PerfTracker } from '../telemetry/perf.js'
import type { InflightTracker } from '../telemetry/inflight.js'
import type { MetricsScraper } from '../telemetry/scraper.js'
import type { DecisionRecord, SeriesPoint, StatusRecorder, UserWindowRecord } from './status.js'

/** The JSON of `GET /admin/status` (docs/operations.md documents every field). */
export interface StatusSnapshot {
  at: number
  uptimeSeconds: number
  config: { generation: number; loadedAt: number; source: string; defaultStrategy: string }
  discoverySynced: boolean
  models: ModelStatus[]
  decisions: DecisionRecord[]
  series: Record<string, SeriesPoint[]>
  users: Record<string, UserWindowRecord>
  /** Requests waiting in the admission queue per model and band; null when admission is off. */
  admission: { model: string; band: string; waiting: number }[] | null
}

export interface ModelStatus {
  name: string
  adapters: string[]
  pods: PodStatus[]
}

export interface PodStatus {
  name: string
  address: string
  gpu: string | null
  routable: boolean
  /** Why not routable: not-ready, ejected (failures), ejected (hung) — or null. */
  state: 'routable' | 'not-ready' | 'ejected'
  ejectedReason: string | null
  ejectedForMs: number | null
  inflight: number
  /** From the pod's /metrics (null until scraped or when stale). */
  running: number | null
  waiting: number | null
  kvCacheUsage: number | null
  prefixHitRate: number | null
  tokensPerSecond: number | null
  /** Measured by the gateway (EWMA); `measured` false while these are the GPU's seed values. */
  ttftMs: number
  tpotMs: number
  measured: boolean
}

export interface SnapshotSources {
  registry: PodRegistry
  scraper: MetricsScraper
  perf: PerfTracker
  inflight: InflightTracker
  recorder: StatusRecorder
  config: () => { generation: number; loadedAt: number; source: string; defaultStrategy: string }
  startedAt: number
  /** The admission queue's depth per model and band, when it is on. */
  admission?: () => { model: string; band: string; waiting: number }[]
}

const round = (n: number | undefined, digits = 3) => (n === undefined || !Number.isFinite(n) ? null : Math.round(n * 10 ** digits) / 10 ** digits)

function podStatus(s: SnapshotSources, pod: Pod, routable: ReadonlySet<string>): PodStatus {
  const m = s.scraper.get(pod)
  const perf = s.perf.get(pod)
  const ejection = s.registry.outlier.state(pod.address)
  const state = !pod.ready ? 'not-ready' : ejection.ejected ? 'ejected' : 'routable'
  return {
    name: pod.name,
    address: pod.address,
    gpu: gpuOf(pod) ?? pod.labels.gpu ?? null,
    routable: routable.has(pod.id),
    state,
    ejectedReason: ejection.ejected ? (ejection.reason ?? 'failures') : null,
    ejectedForMs: ejection.ejected ? ejection.remainingMs : null,
    inflight: s.inflight.get(pod.address),
    running: m?.running ?? null,
    waiting: m?.waiting ?? null,
    kvCacheUsage: round(m?.kvCacheUsage),
    prefixHitRate: m && m.prefixQueries ? round((m.prefixHits ?? 0) / m.prefixQueries) : null,
    tokensPerSecond: round(s.scraper.tokensPerSecond(pod.metricsAddress), 1),
    ttftMs: round(perf.ttftMs, 1) ?? 0,
    tpotMs: round(perf.tpotMs, 2) ?? 0,
    measured: perf.measured
  }
}

/** Everything the status page shows, read from the live parts; O(pods + decisions). */
export function statusSnapshot(s: SnapshotSources): StatusSnapshot {
  const byModel = new Map<string, Pod[]>()
  for (const pod of s.registry.all()) {
    const list = byModel.get(pod.model) ?? []
    list.push(pod)
    byModel.set(pod.model, list)
  }
  const models: ModelStatus[] = [...byModel.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, pods]) => {
      const routable = new Set(s.registry.resolve(name).pods.map((p) => p.id))
      const adapters = new Set<string>()
      for (const p of pods) for (const a of s.registry.adaptersOf(p)) adapters.add(a)
      return { name, adapters: [...adapters].sort(), pods: pods.sort((a, b) => a.name.localeCompare(b.name)).map((p) => podStatus(s, p, routable)) }
    })
  const now = s.recorder.now()
  return {
    at: now,
    uptimeSeconds: Math.round((now - s.startedAt) / 1000),
    config: s.config(),
    discoverySynced: s.registry.synced,
    models,
    decisions: s.recorder.decisions(),
    series: s.recorder.podSeries(),
    users: s.recorder.userWindows(),
    admission: s.admission?.() ?? null
  }
}
