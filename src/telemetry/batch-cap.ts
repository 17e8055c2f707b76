import type { PodMetrics } from './pod-metrics.js'

/**
 * Each pod's batch cap (vLLM --max-num-seqs), learned from its metrics: the most requests seen
 * running while others were waiting. A pod never seen with a queue has no known cap — nothing says
 * its batch was full, so nothing is assumed.
 */
export class BatchCaps {
  private readonly caps = new Map<string, number>()

  /** A scrape of the pod at `address`. */
  observe(address: string, m: PodMetrics): void {
    if ((m.waiting ?? 0) <= 0 || m.running === undefined || m.running <= 0) return
    const cap = this.caps.get(address)
    if (cap === undefined || m.running > cap) this.caps.set(address, m.running)
  }

  get(address: string): number | undefined {
    return this.caps.get(address)
  }

  retain(addresses: ReadonlySet<string>): void {
    for (const a of this.caps.keys()) if (!addresses.has(a)) this.caps.delete(a)
  }
}

/** Pod label that states the pod's batch cap (vLLM --max-num-seqs), overriding what is learned. */
export const MAX_NUM_SEQS_LABEL = 'brixgate.io/max-num-seqs'

/** The configured cap of a pod (its label), if it has a valid one. */
export function configuredCap(labels: Readonly<Record<string, string>>): number | undefined {
  const n = Number(labels[MAX_NUM_SEQS_LABEL])
  return Number.isInteger(n) && n > 0 ? n : undefined
}

/**
 * How long a new request waits for a batch slot on a pod: with `open` requests there (this one
 * not counted) and a cap of `cap`, every request beyond the cap waits for one to finish; they
 * finish at about cap / e2eMs per ms.
 */
export function slotWaitMs(open: number, cap: number | undefined, e2eMs: number): number {
  if (cap === undefined || cap <= 0) return 0
  return (Math.max(0, open + 1 - cap) * e2eMs) / cap
}
