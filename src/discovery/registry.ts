import { OutlierDetector, type OutlierOptions } from './outlier.js'
import type { Pod } from './pod.js'

export interface ModelEntry {
  id: string
  created: number
  /** For an adapter, the base model it runs on. */
  parent?: string
}

export interface Resolution {
  /** True when any pod (routable or not) serves the model, or a source declared it. */
  known: boolean
  pods: Pod[]
  /** Ready pods of the model taken out of rotation by outlier detection. */
  ejected: number
}

export interface RegistryOptions {
  /** Outlier detection (SPEC §11 upstream.outlier); defaults are SPEC's. */
  outlier?: Partial<OutlierOptions>
  now?: () => number
}

export const DEFAULT_OUTLIER = { consecutiveFailures: 3, baseEjectionMs: 5000, maxEjectionPercent: 50, hangSeconds: 20 } as const

/**
 * The set of pods per model, fed by discovery sources and read by the request path.
 * Reads are cheap: the model → pods index is rebuilt only when a source changes something.
 */
export class PodRegistry {
  private readonly pods = new Map<string, Pod>()
  private readonly declared = new Set<string>()
  /** Pod health is per address: one server may be listed under several models. */
  readonly outlier: OutlierDetector
  private readonly firstSeen = new Map<string, number>()
  private byModel = new Map<string, Pod[]>()
  private dirty = true
  private syncedSources = new Set<string>()
  private readonly expectedSources = new Set<string>()
  private readonly now: () => number
  private readonly listeners = new Set<() => void>()
  /** Adapters learned apart from the pod itself (ModelAdapter objects, polled /v1/models), per source. */
  private readonly adapterOverlays = new Map<string, ReadonlyMap<string, ReadonlySet<string>>>()

  constructor(opts: RegistryOptions = {}) {
    this.now = opts.now ?? Date.now
    this.outlier = new OutlierDetector({ ...DEFAULT_OUTLIER, ...opts.outlier, now: this.now })
  }

  /** A source announces itself so /readyz waits for its first sync. */
  expectSource(source: string): void {
    this.expectedSources.add(source)
  }

  markSynced(source: string): void {
    this.syncedSources.add(source)
  }

  get synced(): boolean {
    for (const s of this.expectedSources) if (!this.syncedSources.has(s)) return false
    return this.expectedSources.size > 0
  }

  /** Models that exist even with no pod (static config lists them). */
  declareModel(model: string): void {
    this.declared.add(model)
    this.dirty = true
  }

  undeclareModel(model: string): void {
    if (this.declared.delete(model)) this.dirty = true
  }

  upsert(pod: Pod): void {
    this.pods.set(pod.id, pod)
    this.changed()
  }

  remove(id: string): void {
    if (this.pods.delete(id)) this.changed()
  }

  get(id: string): Pod | undefined {
    return this.pods.get(id)
  }

  all(): Pod[] {
    return [...this.pods.values()]
  }

  /** Replaces what one adapter source says: pod id → adapters it serves. */
  setAdapterOverlay(source: string, byPod: ReadonlyMap<string, ReadonlySet<string>>): void {
    this.adapterOverlays.set(source, byPod)
    this.changed()
  }

  /** Every adapter a pod serves: its own plus what overlays add. */
  adaptersOf(pod: Pod): Set<string> {
    const out = new Set(pod.adapters)
    for (const overlay of this.adapterOverlays.values()) for (const a of overlay.get(pod.id) ?? []) out.add(a)
    return out
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Routable pods for a model or adapter name. */
  resolve(model: string): Resolution {
    const pods = this.index().get(model)
    if (!pods) return { known: this.declared.has(model), pods: [], ejected: 0 }
    const now = this.now()
    const routable: Pod[] = []
    let ejected = 0
    for (const p of pods) {
      if (!p.ready) continue
      if (this.outlier.isEjected(p.address, now)) ejected++
      else routable.push(p)
    }
    return { known: true, pods: routable, ejected }
  }

  /** Models and adapters with at least one routable pod, for GET /v1/models. */
  routableModels(): ModelEntry[] {
    const out: ModelEntry[] = []
    for (const [id, pods] of this.index()) {
      if (this.resolve(id).pods.length === 0) continue
      const base = pods[0].model
      out.push(id === base ? { id, created: this.created(id) } : { id, created: this.created(id), parent: base })
    }
    return out.sort((a, b) => a.id.localeCompare(b.id))
  }

  reportSuccess(address: string): void {
    this.outlier.success(address)
  }

  /** A gateway-visible failure of the pod at `address`; returns true when it got the pod ejected. */
  reportFailure(address: string): boolean {
    return this.outlier.failure(address, this.peersOf(address))
  }

  /** Ejects a pod found hung; false when maxEjectionPercent forbids it. */
  ejectHung(address: string): boolean {
    return this.outlier.eject(address, 'hung', this.peersOf(address))
  }

  isEjected(address: string, now = this.now()): boolean {
    return this.outlier.isEjected(address, now)
  }

  /** Addresses of the ready pods that serve the same base model as the pod at `address`. */
  private peersOf(address: string): string[] {
    const model = [...this.pods.values()].find((p) => p.address === address)?.model
    if (model === undefined) return [address]
    return [...new Set((this.index().get(model) ?? []).filter((p) => p.ready).map((p) => p.address))]
  }

  private changed(): void {
    this.dirty = true
    for (const l of this.listeners) l()
  }

  private created(id: string): number {
    let t = this.firstSeen.get(id)
    if (t === undefined) {
      t = Math.floor(this.now() / 1000)
      this.firstSeen.set(id, t)
    }
    return t
  }

  private index(): Map<string, Pod[]> {
    if (!this.dirty) return this.byModel
    const next = new Map<string, Pod[]>()
    const add = (id: string, pod: Pod) => {
      const list = next.get(id)
      if (list) list.push(pod)
      else next.set(id, [pod])
    }
    for (const pod of [...this.pods.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      add(pod.model, pod)
      for (const adapter of this.adaptersOf(pod)) if (adapter !== pod.model) add(adapter, pod)
    }
    this.byModel = next
    this.dirty = false
    return next
  }
}
