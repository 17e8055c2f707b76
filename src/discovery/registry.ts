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
}

export interface RegistryOptions {
  /** Consecutive connect failures that take a pod out of rotation. */
  failureThreshold?: number
  /** How long an ejected pod stays out before it is tried again. */
  ejectMs?: number
  now?: () => number
}

interface Health {
  failures: number
  ejectedUntil: number
}

/**
 * The set of pods per model, fed by discovery sources and read by the request path.
 * Reads are cheap: the model → pods index is rebuilt only when a source changes something.
 */
export class PodRegistry {
  private readonly pods = new Map<string, Pod>()
  private readonly declared = new Set<string>()
  private readonly health = new Map<string, Health>()
  private readonly firstSeen = new Map<string, number>()
  private byModel = new Map<string, Pod[]>()
  private dirty = true
  private syncedSources = new Set<string>()
  private readonly expectedSources = new Set<string>()
  private readonly failureThreshold: number
  private readonly ejectMs: number
  private readonly now: () => number
  private readonly listeners = new Set<() => void>()
  /** Adapters learned apart from the pod itself (ModelAdapter objects, polled /v1/models), per source. */
  private readonly adapterOverlays = new Map<string, ReadonlyMap<string, ReadonlySet<string>>>()

  constructor(opts: RegistryOptions = {}) {
    this.failureThreshold = opts.failureThreshold ?? 3
    this.ejectMs = opts.ejectMs ?? 5000
    this.now = opts.now ?? Date.now
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
    if (!pods) return { known: this.declared.has(model), pods: [] }
    const now = this.now()
    const routable = pods.filter((p) => p.ready && !this.isEjected(p.address, now))
    return { known: true, pods: routable }
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

  /** Health is per address: one server may be listed under several models. */
  reportSuccess(address: string): void {
    const h = this.health.get(address)
    if (h) {
      h.failures = 0
      h.ejectedUntil = 0
    }
  }

  /** A connect failure; enough in a row take the pod out of rotation for a while. */
  reportFailure(address: string): void {
    const h = this.health.get(address) ?? { failures: 0, ejectedUntil: 0 }
    h.failures += 1
    if (h.failures >= this.failureThreshold) h.ejectedUntil = this.now() + this.ejectMs
    this.health.set(address, h)
  }

  isEjected(address: string, now = this.now()): boolean {
    const h = this.health.get(address)
    return h !== undefined && h.ejectedUntil > now
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
