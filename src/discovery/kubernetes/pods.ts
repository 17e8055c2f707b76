import type { V1Pod } from '@kubernetes/client-node'
import type { Pod } from '../pod.js'

export const MODEL_LABEL = 'model.aibrix.ai/name'
export const PORT_LABEL = 'model.aibrix.ai/port'
export const METRIC_PORT_LABEL = 'model.aibrix.ai/metric-port'
const DEFAULT_PORT = 8000

function port(value: string | undefined, fallback: number): number {
  const n = Number(value)
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : fallback
}

/** Routable = has an IP, is not terminating, and its Ready condition is True. */
export function isRoutable(pod: V1Pod): boolean {
  if (!pod.status?.podIP || pod.metadata?.deletionTimestamp) return false
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
}

export const podKey = (namespace: string | undefined, name: string | undefined) => `${namespace ?? 'default'}/${name ?? ''}`

/**
 * A Kubernetes Pod → the gateway's pod record, or undefined when it names no model.
 * The model is the `model.aibrix.ai/name` label, else the annotation of the same key.
 */
export function toPod(pod: V1Pod): Pod | undefined {
  const labels = pod.metadata?.labels ?? {}
  const model = labels[MODEL_LABEL] ?? pod.metadata?.annotations?.[MODEL_LABEL]
  if (!model || !pod.metadata?.name) return undefined
  const ip = pod.status?.podIP ?? ''
  const host = ip.includes(':') ? `[${ip}]` : ip
  const servingPort = port(labels[PORT_LABEL], DEFAULT_PORT)
  return {
    id: podKey(pod.metadata.namespace, pod.metadata.name),
    source: 'kubernetes',
    name: pod.metadata.name,
    address: `${host}:${servingPort}`,
    metricsAddress: `${host}:${port(labels[METRIC_PORT_LABEL], servingPort)}`,
    model,
    adapters: new Set(),
    labels: { ...labels },
    ready: isRoutable(pod)
  }
}

export interface ModelAdapterObject {
  metadata?: { name?: string; namespace?: string }
  status?: { instances?: string[] }
}

/** ModelAdapter objects → pod id → adapter names (the adapter runs on the pods in status.instances). */
export function adaptersByPod(adapters: Iterable<ModelAdapterObject>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const a of adapters) {
    const name = a.metadata?.name
    if (!name) continue
    for (const instance of a.status?.instances ?? []) {
      const key = podKey(a.metadata?.namespace, instance)
      let set = out.get(key)
      if (!set) out.set(key, (set = new Set()))
      set.add(name)
    }
  }
  return out
}
