import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, type Informer, type KubernetesObject, type V1Pod } from '@kubernetes/client-node'
import type { Config } from '../../config/schema.js'
import type { Logger } from '../../observability/logger.js'
import type { PodRegistry } from '../registry.js'
import { adaptersByPod, podKey, toPod, type ModelAdapterObject } from './pods.js'

export type KubernetesConfig = NonNullable<Config['discovery']['kubernetes']>

export interface DiscoveryMetrics {
  watchRestart(resource: string): void
}

const ADAPTER = { group: 'model.aibrix.ai', version: 'v1alpha1', plural: 'modeladapters' }

/** KUBECONFIG when set, else in-cluster, else ~/.kube/config (SPEC §6). */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig()
  if (!process.env.KUBECONFIG && process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster()
  else kc.loadFromDefault()
  return kc
}

interface ListResult<T> {
  items: T[]
  metadata?: { resourceVersion?: string }
}

/** One list+watch per namespace (or one for all), restarted with backoff after any error. */
class Watched<T extends KubernetesObject> {
  private readonly informer: Informer<T>
  private backoffMs = 500
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly resource: string,
    path: string,
    readonly list: () => Promise<ListResult<T>>,
    labelSelector: string | undefined,
    kc: KubeConfig,
    handlers: { upsert(obj: T): void; remove(obj: T): void },
    private readonly onRestart: (resource: string, err: unknown) => void
  ) {
    this.informer = makeInformer<T>(kc, path, list as () => Promise<never>, labelSelector)
    const ok = () => (this.backoffMs = 500)
    this.informer.on('add', (o) => (ok(), handlers.upsert(o)))
    this.informer.on('update', (o) => (ok(), handlers.upsert(o)))
    this.informer.on('delete', (o) => (ok(), handlers.remove(o)))
    // client-node 1.x stops an informer on any error but 410 (and stop() itself reports one).
    this.informer.on('error', (err) => {
      if (this.stopped) return
      this.onRestart(this.resource, err)
      clearTimeout(this.timer)
      this.timer = setTimeout(() => void this.start(), this.backoffMs)
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000)
    })
  }

  async start(): Promise<void> {
    if (this.stopped) return
    await this.informer.start().catch(() => undefined)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.informer.stop().catch(() => undefined)
  }
}

/**
 * Pods labelled `model.aibrix.ai/name` (or the configured selector) and ModelAdapter objects,
 * kept in the registry by list+watch, healed by a periodic relist so a missed DELETE cannot keep
 * a dead pod in rotation.
 */
export class KubernetesDiscovery {
  private readonly pods: Watched<V1Pod>[] = []
  private readonly adapters: Watched<KubernetesObject>[] = []
  private readonly adapterObjects = new Map<string, ModelAdapterObject>()
  /** When each pod was last written by a watch event or a list (a relist may not remove newer ones). */
  private readonly touched = new Map<string, number>()
  private relistTimer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly registry: PodRegistry,
    private readonly config: KubernetesConfig,
    private readonly logger: Logger,
    private readonly metrics: DiscoveryMetrics,
    private readonly kc: KubeConfig = loadKubeConfig()
  ) {
    registry.expectSource('kubernetes')
    const core = kc.makeApiClient(CoreV1Api)
    const custom = kc.makeApiClient(CustomObjectsApi)
    const selector = config.labelSelector
    const scopes = config.namespaces.length > 0 ? config.namespaces : [undefined]
    const restart = (resource: string, err: unknown) => {
      this.metrics.watchRestart(resource)
      this.logger.warn({ resource, err: (err as Error)?.message ?? String(err) }, 'kubernetes watch failed; restarting')
    }
    for (const ns of scopes) {
      this.pods.push(
        new Watched<V1Pod>(
          'pods',
          ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
          () => (ns ? core.listNamespacedPod({ namespace: ns, labelSelector: selector }) : core.listPodForAllNamespaces({ labelSelector: selector })),
          selector,
          kc,
          { upsert: (p) => this.upsertPod(p), remove: (p) => this.removePod(p) },
          restart
        )
      )
      if (config.watchModelAdapters) {
        this.adapters.push(
          new Watched<KubernetesObject>(
            'modeladapters',
            ns ? `/apis/${ADAPTER.group}/${ADAPTER.version}/namespaces/${ns}/${ADAPTER.plural}` : `/apis/${ADAPTER.group}/${ADAPTER.version}/${ADAPTER.plural}`,
            () => (ns ? custom.listNamespacedCustomObject({ ...ADAPTER, namespace: ns }) : custom.listClusterCustomObject(ADAPTER)),
            undefined,
            kc,
            { upsert: (a) => this.setAdapter(a, true), remove: (a) => this.setAdapter(a, false) },
            restart
          )
        )
      }
    }
  }

  /** Lists once (readiness waits for it), then watches; resolves after the first successful list. */
  async start(): Promise<void> {
    let delay = 500
    while (!this.stopped && !(await this.relist())) {
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(delay * 2, 10_000)
    }
    if (this.stopped) return
    this.registry.markSynced('kubernetes')
    for (const w of [...this.pods, ...this.adapters]) void w.start()
    this.relistTimer = setInterval(() => void this.relist(), this.config.resyncSeconds * 1000)
    this.relistTimer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.relistTimer)
    await Promise.all([...this.pods, ...this.adapters].map((w) => w.stop()))
  }

  /** Reconciles the registry with a fresh list of every scope; false when the API server failed. */
  async relist(): Promise<boolean> {
    const started = Date.now()
    try {
      const lists = await Promise.all(this.pods.map((w) => w.list()))
      const seen = new Set<string>()
      for (const pod of lists.flatMap((l) => l.items)) {
        seen.add(podKey(pod.metadata?.namespace, pod.metadata?.name))
        this.upsertPod(pod)
      }
      for (const pod of this.registry.all()) {
        if (pod.source === 'kubernetes' && !seen.has(pod.id) && (this.touched.get(pod.id) ?? 0) < started) {
          this.logger.info({ pod: pod.id }, 'pod gone from the list (missed delete): removed')
          this.forget(pod.id)
        }
      }
      return true
    } catch (err) {
      this.logger.warn({ err: (err as Error)?.message ?? String(err) }, 'kubernetes pod list failed')
      return false
    }
  }

  private upsertPod(obj: V1Pod): void {
    const pod = toPod(obj)
    const key = podKey(obj.metadata?.namespace, obj.metadata?.name)
    this.touched.set(key, Date.now())
    if (pod) this.registry.upsert(pod)
    else this.forget(key) // the model label was removed
  }

  private removePod(obj: V1Pod): void {
    this.forget(podKey(obj.metadata?.namespace, obj.metadata?.name))
  }

  private forget(key: string): void {
    this.touched.delete(key)
    this.registry.remove(key)
  }

  private setAdapter(obj: KubernetesObject, present: boolean): void {
    const key = podKey(obj.metadata?.namespace, obj.metadata?.name)
    if (present) this.adapterObjects.set(key, obj as ModelAdapterObject)
    else this.adapterObjects.delete(key)
    this.registry.setAdapterOverlay('modeladapter', adaptersByPod(this.adapterObjects.values()))
  }
}
