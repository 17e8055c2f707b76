import { LRUCache } from 'lru-cache'

/**
 * Which pod holds each Responses API conversation: vLLM keeps a stored response in the memory of
 * the engine that produced it, so a request naming it as `previous_response_id` must go back
 * there (anywhere else it is a 404). Bounded (LRU) and expiring, like the engines' own store.
 */
export class ResponsePins {
  private readonly pins: LRUCache<string, string>
  /** Told of every pin this gateway makes (shared routing state publishes it to the other replicas). */
  onPin?: (responseId: string, podId: string) => void

  constructor(opts: { max?: number; ttlMs?: number } = {}) {
    this.pins = new LRUCache({ max: opts.max ?? 100_000, ttl: opts.ttlMs ?? 60 * 60_000 })
  }

  /** The pod (id) that answered `responseId`, if known. */
  podFor(responseId: string): string | undefined {
    return this.pins.get(responseId)
  }

  /** This gateway's answer `responseId` came from `podId`. */
  pin(responseId: string, podId: string): void {
    this.pins.set(responseId, podId)
    this.onPin?.(responseId, podId)
  }

  /** A pin another gateway replica made. */
  learn(responseId: string, podId: string): void {
    this.pins.set(responseId, podId)
  }

  get size(): number {
    return this.pins.size
  }
}
