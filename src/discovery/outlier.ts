/**
 * Passive outlier detection with Envoy's semantics (consecutive gateway-visible failures eject a
 * pod for base × 2^(n-1), capped; never more than maxEjectionPercent of a model's pods, but always
 * at least one), plus hung-engine detection: a pod with requests open whose output has not moved
 * for hangSeconds. An ejected pod returns only after a health probe answers.
 * Pure bookkeeping: the caller supplies the clock, the peers and runs the probes.
 */
export interface OutlierOptions {
  consecutiveFailures: number
  baseEjectionMs: number
  maxEjectionPercent: number
  hangSeconds: number
  /** Cap on one ejection (Envoy's max_ejection_time default). */
  maxEjectionMs?: number
  now?: () => number
}

export type EjectionReason = 'failures' | 'hung'

interface PodHealth {
  failures: number
  /** Times ejected; the next ejection lasts base × 2^ejections. Decays after a healthy stretch. */
  ejections: number
  ejectedUntil: number
  reason?: EjectionReason
  /** Ejection time is over but no probe has answered yet: still out of rotation. */
  awaitingProbe: boolean
  probing: boolean
  returnedAt: number
  /** Last time the pod showed progress (bytes of an answer, a moving token counter, or became busy). */
  progressAt: number
}

export interface EjectionState {
  ejected: boolean
  reason?: EjectionReason
  /** ms until the ejection time is over (0 while it waits for its probe). */
  remainingMs: number
}

export class OutlierDetector {
  private readonly pods = new Map<string, PodHealth>()
  private readonly now: () => number
  private readonly maxEjectionMs: number

  constructor(private readonly opts: OutlierOptions) {
    this.now = opts.now ?? Date.now
    this.maxEjectionMs = opts.maxEjectionMs ?? Math.max(300_000, opts.baseEjectionMs)
  }

  private get(address: string): PodHealth {
    let h = this.pods.get(address)
    if (!h) {
      h = { failures: 0, ejections: 0, ejectedUntil: 0, awaitingProbe: false, probing: false, returnedAt: 0, progressAt: this.now() }
      this.pods.set(address, h)
    }
    return h
  }

  isEjected(address: string, now = this.now()): boolean {
    const h = this.pods.get(address)
    if (!h) return false
    if (h.ejectedUntil > now) return true
    return h.awaitingProbe
  }

  state(address: string, now = this.now()): EjectionState {
    const h = this.pods.get(address)
    if (!h || !this.isEjected(address, now)) return { ejected: false, remainingMs: 0 }
    return { ejected: true, reason: h.reason, remainingMs: Math.max(0, h.ejectedUntil - now) }
  }

  /** The pod answered: its failure streak ends; a long healthy stretch forgets past ejections. */
  success(address: string): void {
    const h = this.pods.get(address)
    if (!h) return
    h.failures = 0
    h.progressAt = this.now()
    if (h.ejections > 0 && this.now() - h.returnedAt > this.ejectionMs(h.ejections)) h.ejections = 0
  }

  /**
   * A gateway-visible failure (connect error, reset, 5xx, first-byte timeout). `peers` are the
   * addresses of the pods serving the same model (the pod itself included). Returns true when this
   * failure ejected the pod.
   */
  failure(address: string, peers: readonly string[]): boolean {
    const h = this.get(address)
    h.failures += 1
    if (h.failures < this.opts.consecutiveFailures || this.isEjected(address)) return false
    return this.eject(address, 'failures', peers)
  }

  /** Ejects unless that would take out more than maxEjectionPercent of the peers (one is always allowed). */
  eject(address: string, reason: EjectionReason, peers: readonly string[]): boolean {
    const now = this.now()
    const h = this.get(address)
    if (this.isEjected(address, now)) return false
    const ejected = peers.filter((p) => p !== address && this.isEjected(p, now)).length
    const total = Math.max(1, peers.length)
    if (ejected > 0 && ((ejected + 1) / total) * 100 > this.opts.maxEjectionPercent) return false
    h.ejections += 1
    h.ejectedUntil = now + this.ejectionMs(h.ejections)
    h.reason = reason
    h.awaitingProbe = true
    h.failures = 0
    return true
  }

  private ejectionMs(ejections: number): number {
    return Math.min(this.maxEjectionMs, this.opts.baseEjectionMs * 2 ** Math.max(0, ejections - 1))
  }

  /** Ejected pods whose time is over and that wait for a probe (each handed out once). */
  dueForProbe(now = this.now()): string[] {
    const out: string[] = []
    for (const [address, h] of this.pods) {
      if (h.awaitingProbe && !h.probing && h.ejectedUntil <= now) {
        h.probing = true
        out.push(address)
      }
    }
    return out
  }

  /** A probe answered: healthy returns the pod to rotation, else it is ejected again for longer. */
  probed(address: string, healthy: boolean): void {
    const h = this.pods.get(address)
    if (!h) return
    h.probing = false
    const now = this.now()
    if (healthy) {
      h.awaitingProbe = false
      h.ejectedUntil = 0
      h.returnedAt = now
      h.progressAt = now
      h.failures = 0
      return
    }
    h.ejections += 1
    h.ejectedUntil = now + this.ejectionMs(h.ejections)
  }

  /** Bytes of an answer came from the pod. */
  progress(address: string): void {
    const h = this.pods.get(address)
    if (h) h.progressAt = this.now()
    else this.get(address)
  }

  /** A request was sent to a pod that had none open: an idle pod is not hung, its clock starts now. */
  becameBusy(address: string): void {
    this.get(address).progressAt = this.now()
  }

  /**
   * Pods with requests open (`busy` > 0) and no progress for hangSeconds; `tokensMovedAt` is when
   * the pod's scraped generation-token counter last moved (undefined when unknown). Returns the
   * addresses that are hung and not yet ejected.
   */
  hung(addresses: readonly string[], busy: (address: string) => number, tokensMovedAt: (address: string) => number | undefined): string[] {
    if (this.opts.hangSeconds <= 0) return []
    const now = this.now()
    const limit = this.opts.hangSeconds * 1000
    const out: string[] = []
    for (const address of addresses) {
      if (busy(address) === 0 || this.isEjected(address, now)) continue
      const h = this.get(address)
      const last = Math.max(h.progressAt, tokensMovedAt(address) ?? 0)
      if (now - last > limit) out.push(address)
    }
    return out
  }

  /** Forgets pods that are gone. */
  retain(addresses: ReadonlySet<string>): void {
    for (const a of this.pods.keys()) if (!addresses.has(a)) this.pods.delete(a)
  }
}
