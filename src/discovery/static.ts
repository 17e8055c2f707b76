import type { StaticModel } from '../config/schema.js'
import type { Pod } from './pod.js'
import type { PodRegistry } from './registry.js'

/** Pods from `discovery.static.models` (AIBrix's standalone endpoints format, extended). */
export function staticPods(models: readonly StaticModel[]): Pod[] {
  const pods: Pod[] = []
  for (const model of models) {
    const adapters = new Set(model.adapters ?? [])
    for (const ep of model.endpoints) {
      const e = typeof ep === 'string' ? { address: ep } : ep
      pods.push({
        id: `${model.name}|${e.address}`,
        source: 'static',
        name: e.name ?? e.address,
        address: e.address,
        metricsAddress: e.address,
        model: model.name,
        adapters,
        labels: { ...e.labels },
        ready: true
      })
    }
  }
  return pods
}

/** Replaces the static pods and models with a reloaded config's; pods kept keep their health state. */
export function reloadStaticDiscovery(registry: PodRegistry, before: readonly StaticModel[], after: readonly StaticModel[]): void {
  const next = staticPods(after)
  const keep = new Set(next.map((p) => p.id))
  for (const pod of registry.all()) if (pod.source === 'static' && !keep.has(pod.id)) registry.remove(pod.id)
  const names = (models: readonly StaticModel[]) => new Set(models.flatMap((m) => [m.name, ...(m.adapters ?? [])]))
  const still = names(after)
  for (const name of names(before)) if (!still.has(name)) registry.undeclareModel(name)
  for (const name of still) registry.declareModel(name)
  for (const pod of next) registry.upsert(pod)
  if (after.length > 0) {
    registry.expectSource('static')
    registry.markSynced('static')
  }
}

/** The static pods and models of the config at start. */
export function loadStaticDiscovery(registry: PodRegistry, models: readonly StaticModel[]): void {
  reloadStaticDiscovery(registry, [], models)
}
