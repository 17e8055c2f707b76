/** One inference pod as the gateway knows it, whatever source found it. */
export interface Pod {
  /** Unique key within the registry (a source's own id: "model|address", "namespace/name"). */
  readonly id: string
  /** Which discovery source owns the pod ("static", "kubernetes"). */
  readonly source: string
  /** The value of the `target-pod` header. */
  readonly name: string
  /** "ip:port" requests are sent to. */
  readonly address: string
  /** "ip:port" whose /metrics is scraped. */
  readonly metricsAddress: string
  /** Base model served (label `model.aibrix.ai/name`). */
  readonly model: string
  /** LoRA adapters served besides the base model. */
  readonly adapters: ReadonlySet<string>
  readonly labels: Readonly<Record<string, string>>
  /** False while the pod is known but must get no requests (not Ready, terminating). */
  readonly ready: boolean
}
