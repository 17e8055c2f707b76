import { randomUUID } from 'node:crypto'
import type { Config } from '../config/schema.js'
import type { BlockHashes } from '../routing/prefix/block-hash.js'
import type { ResponsePins } from '../routing/response-pins.js'
import type { RoutingTransport } from './transport.js'

/** A prefix index other replicas' records are applied to (the prefix strategies' own index). */
export interface PrefixSink {
  insert(hashes: BlockHashes, podId: string, from?: number): void
  remove(hashes: BlockHashes, podId: string, from?: number): void
}

/** What the prefix strategies tell the shared state: they recorded (or took back) a prefix on a pod. */
export interface PrefixShare {
  register(strategy: string, sink: PrefixSink): void
  recorded(strategy: string, kind: 'insert' | 'remove', podId: string, hashes: BlockHashes, from: number): void
}

type ShareConfig = Config['routing']['share']

/** One batch on the wire: the sender, prefix records [strategy, 0 insert | 1 remove, pod, keys, checks], pins [response id, pod]. */
interface Batch {
  v: 1
  r: string
  p: [string, 0 | 1, string, string, string][]
  s: [string, string][]
}

export interface ShareCounts {
  sent: number
  received: number
  dropped: number
}

const b64 = (a: Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')
function int32s(s: string): Int32Array {
  const bytes = Buffer.from(s, 'base64')
  // a fresh, aligned buffer (Buffer.from may hand back a slice of a shared pool)
  return new Int32Array(new Uint8Array(bytes).buffer, 0, bytes.length >> 2)
}

/**
 * Routing state shared by the gateway replicas (docs/scaling.md): what each prefix strategy
 * recorded on which pod (only the blocks new to this replica's index: deltas), and which pod holds
 * each Responses API conversation. Off the request path: records are batched for `flushMs` and
 * sent as one message; a batch over `maxPendingBlocks` drops further records, and each record
 * carries at most `maxBlocksPerRecord` blocks. Other replicas' batches are applied to the local
 * index and pins, so every replica routes a tenant the same way; when the transport is slow or
 * gone, each replica routes on what it knows itself.
 */
export class SharedRoutingState implements PrefixShare {
  readonly replicaId = randomUUID()
  readonly counts: ShareCounts = { sent: 0, received: 0, dropped: 0 }
  private readonly sinks = new Map<string, PrefixSink>()
  private batch: Batch
  private pendingBlocks = 0
  private flushing = false

  constructor(
    private readonly cfg: ShareConfig,
    private readonly transport: RoutingTransport,
    private readonly schedule: (ms: number, fn: () => void) => void,
    private readonly pins?: ResponsePins,
    /** Told of records sent, received and dropped (metrics). */
    private readonly counted: (direction: keyof ShareCounts, n: number) => void = () => {}
  ) {
    this.batch = this.empty()
    transport.onMessage((payload) => this.apply(payload))
    if (pins) pins.onPin = (responseId, podId) => this.queue(() => this.batch.s.push([responseId, podId]), 0)
  }

  register(strategy: string, sink: PrefixSink): void {
    this.sinks.set(strategy, sink)
  }

  recorded(strategy: string, kind: 'insert' | 'remove', podId: string, hashes: BlockHashes, from: number): void {
    const end = Math.min(hashes.keys.length, from + this.cfg.maxBlocksPerRecord)
    if (end <= from) return
    this.queue(() => this.batch.p.push([strategy, kind === 'insert' ? 0 : 1, podId, b64(hashes.keys.subarray(from, end)), b64(hashes.checks.subarray(from, end))]), end - from)
  }

  async close(): Promise<void> {
    await this.transport.close()
  }

  private empty(): Batch {
    return { v: 1, r: this.replicaId, p: [], s: [] }
  }

  private queue(add: () => void, blocks: number): void {
    if (this.pendingBlocks + blocks > this.cfg.maxPendingBlocks) {
      this.count('dropped', 1)
      return
    }
    add()
    this.pendingBlocks += blocks
    if (this.flushing) return
    this.flushing = true
    this.schedule(this.cfg.flushMs, () => this.flush())
  }

  private flush(): void {
    const batch = this.batch
    this.batch = this.empty()
    this.pendingBlocks = 0
    this.flushing = false
    if (batch.p.length === 0 && batch.s.length === 0) return
    this.count('sent', batch.p.length + batch.s.length)
    this.transport.publish(JSON.stringify(batch))
  }

  private count(direction: keyof ShareCounts, n: number): void {
    this.counts[direction] += n
    this.counted(direction, n)
  }

  /** Another replica's batch: its prefix records go into the local indexes, its pins into the pins. Malformed batches are ignored. */
  private apply(payload: string): void {
    let batch: Batch
    try {
      batch = JSON.parse(payload) as Batch
    } catch {
      return
    }
    if (batch?.v !== 1 || batch.r === this.replicaId || !Array.isArray(batch.p) || !Array.isArray(batch.s)) return
    let received = 0
    for (const rec of batch.p) {
      if (!Array.isArray(rec) || rec.length !== 5) continue
      const [strategy, kind, podId, keys, checks] = rec
      const sink = this.sinks.get(strategy)
      if (!sink || typeof podId !== 'string' || typeof keys !== 'string' || typeof checks !== 'string') continue
      const hashes = { keys: int32s(keys), checks: int32s(checks) }
      if (hashes.keys.length !== hashes.checks.length) continue
      if (kind === 0) sink.insert(hashes, podId)
      else sink.remove(hashes, podId)
      received++
    }
    for (const pin of batch.s) {
      if (!Array.isArray(pin) || typeof pin[0] !== 'string' || typeof pin[1] !== 'string') continue
      this.pins?.learn(pin[0], pin[1])
      received++
    }
    this.count('received', received)
  }
}
