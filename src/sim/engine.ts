import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { SimClock } from './clock.js'
import { KvCache } from './kv-cache.js'
import type { GpuProfile } from './profiles.js'
import { performance } from 'node:perf_hooks'

export const BLOCK_TOKENS = 16
/** Prompt tokens prefilled per scheduler step at most (vLLM's chunked prefill budget). */
const PREFILL_CHUNK = 2048
/** Fixed cost of one scheduler step, ms (scheduling, sampling, launch overhead). */
const STEP_OVERHEAD_MS = 0.5
/** Behind schedule by more than this (wall ms), step deadlines restart from now. */
const MAX_LAG_MS = 20

export interface EngineOptions {
  model: string
  profile: GpuProfile
  /** Multiplies every delay: 0.1 runs ten times faster than the profile says; 0 = no waiting. */
  timeScale: number
  /** Overrides of the profile (ms, tokens). */
  prefillMsPerToken?: number
  decodeMsPerToken?: number
  overheadMs?: number
  kvTokens?: number
  maxBatch?: number
  /** LoRA adapter slots on the GPU (vLLM --max-loras): adapters running in one batch at most. */
  maxLoras?: number
  /** Loading an adapter that is not resident into a slot, ms (a weight copy; vLLM keeps the last ones). */
  loraLoadMs?: number
  /** A virtual clock for in-process runs (timeScale then converts profile ms to clock ms); default the wall clock. */
  clock?: SimClock
}

export interface GenerationCallbacks {
  /** The prompt is processed; the first token follows in the same step. */
  onFirstToken?: (cachedTokens: number) => void
  onToken: (index: number) => void
}

export interface GenerationResult {
  aborted: boolean
  /** Prompt tokens served from the prefix cache. */
  cachedTokens: number
}

interface Request {
  /** The LoRA adapter it runs on, or undefined for the base model. */
  adapter: string | undefined
  hashes: number[]
  promptTokens: number
  outputTokens: number
  /** Prompt tokens still to prefill (after cache hits). */
  toPrefill: number
  generated: number
  /** Unnamed KV blocks held (partial prompt block, output). */
  extraBlocks: number
  cachedTokens: number
  /** Prefill has started at least once (the per-request overhead is paid then). */
  began: boolean
  cb: GenerationCallbacks
  started: number
  lastTokenAt: number
  done: (r: GenerationResult) => void
}

/**
 * A vLLM-like engine: continuous batching (at most maxBatch running), a scheduler step loop,
 * chunked prefill of uncached prompt tokens, decode steps that slow as the batch grows, a paged
 * KV cache with prefix reuse, waiting when the cache is full and preemption (recompute) when it
 * fills mid-generation. Exposes vLLM's metric names.
 */
export class SimEngine {
  readonly metrics = new Registry()
  readonly kv: KvCache
  private readonly waiting: Request[] = []
  private readonly running: Request[] = []
  /** A scheduler step is in progress (or about to start). */
  private stepping = false
  /** Wall time at which the step in progress ends; steps are scheduled against it, not one after another. */
  private due = 0
  private readonly m: ReturnType<SimEngine['createMetrics']>
  /** Adapters whose weights are in a GPU slot, least recently used first. */
  private readonly resident = new Set<string>()
  /** Adapters loaded by the step being scheduled (their load time is added to it). */
  private loading = 0
  /** What vllm:lora_requests_info shows now. */
  private loraInfo = { running: '', waiting: '' }

  constructor(private readonly opts: EngineOptions) {
    this.kv = new KvCache(Math.floor((opts.kvTokens ?? opts.profile.kvTokens) / BLOCK_TOKENS))
    this.m = this.createMetrics()
    this.publishInfo()
  }

  private get maxLoras(): number {
    return this.opts.maxLoras ?? 1 // vLLM's default
  }

  private get maxBatch(): number {
    return this.opts.maxBatch ?? this.opts.profile.maxBatch
  }

  get stats() {
    return { running: this.running.length, waiting: this.waiting.length, kvUsage: this.kv.usage }
  }

  /** A cold start for benchmarks: empties the prefix cache and zeroes the counters (idle engine only). */
  reset(): void {
    this.kv.dropIdle()
    this.resident.clear()
    this.metrics.resetMetrics()
    this.zeroSeries(this.m)
    this.publishInfo()
  }

  /**
   * The info gauges, again after a reset (which empties every metric): without cache_config_info
   * the gateway cannot size KV usage in tokens.
   */
  private publishInfo(): void {
    this.m.cacheConfig.set({ block_size: String(BLOCK_TOKENS), num_gpu_blocks: String(this.kv.capacity), enable_prefix_caching: 'True' }, 1)
    this.publishLoraInfo('', '')
  }

  /** Series exist from the start, as in vLLM (prometheus_client exports labelled zeros). */
  private zeroSeries(m: Omit<ReturnType<SimEngine['createMetrics']>, 'loraInfo' | 'cacheConfig'>): void {
    for (const [name, metric] of Object.entries(m)) {
      if (name === 'loraInfo' || name === 'cacheConfig' || name === 'success') continue
      if (metric instanceof Gauge) metric.set(this.labels, 0)
      else if (metric instanceof Histogram) metric.zero(this.labels)
      else metric.inc(this.labels, 0)
    }
  }

  /** Whether a request can ever fit in the KV cache (vLLM refuses longer ones). */
  fits(promptTokens: number, outputTokens: number): boolean {
    return Math.ceil((promptTokens + outputTokens) / BLOCK_TOKENS) + 1 <= this.kv.capacity
  }

  /** Runs one request; `hashes` name its full prompt blocks (chained over token ids). */
  generate(hashes: number[], promptTokens: number, outputTokens: number, signal: AbortSignal, cb: GenerationCallbacks, adapter?: string): Promise<GenerationResult> {
    return new Promise((resolve) => {
      const now = this.now()
      const req: Request = { adapter, hashes, promptTokens, outputTokens, toPrefill: promptTokens, generated: 0, extraBlocks: 0, cachedTokens: 0, began: false, cb, started: now, lastTokenAt: now, done: resolve }
      signal.addEventListener(
        'abort',
        () => {
          this.remove(req)
          resolve({ aborted: true, cachedTokens: req.cachedTokens })
        },
        { once: true }
      )
      this.waiting.push(req)
      this.kick()
    })
  }

  private get labels() {
    return { model_name: this.opts.model }
  }

  private cost(kind: 'prefill' | 'decode' | 'overhead'): number {
    const p = this.opts.profile
    if (kind === 'prefill') return this.opts.prefillMsPerToken ?? p.prefillMsPerToken
    if (kind === 'decode') return this.opts.decodeMsPerToken ?? p.decodeMsPerToken
    return this.opts.overheadMs ?? p.overheadMs
  }

  private now(): number {
    return this.opts.clock?.now() ?? performance.now()
  }

  private kick(): void {
    if (!this.stepping && (this.running.length > 0 || this.waiting.length > 0)) this.scheduleStep()
  }

  /** Adapters of the running batch. */
  private activeAdapters(): Set<string> {
    const active = new Set<string>()
    for (const r of this.running) if (r.adapter !== undefined) active.add(r.adapter)
    return active
  }

  /**
   * Admits waiting requests while batch slots and KV blocks allow (FCFS: when the head does not
   * fit in the KV cache the rest wait too). As in vLLM, a request whose adapter would exceed the
   * batch's LoRA slots is skipped and keeps its place; a non-resident adapter is loaded first.
   */
  private admit(): void {
    const active = this.activeAdapters()
    for (let i = 0; i < this.waiting.length && this.running.length < this.maxBatch; ) {
      const req = this.waiting[i]
      if (req.adapter !== undefined && !active.has(req.adapter) && active.size >= this.maxLoras) {
        i++
        continue
      }
      const fullBlocks = req.hashes.length
      const extra = Math.ceil(req.promptTokens / BLOCK_TOKENS) - fullBlocks + 1
      const hit = this.kv.acquire(req.hashes, extra)
      if (hit === undefined) break
      this.waiting.splice(i, 1)
      if (req.adapter !== undefined) {
        active.add(req.adapter)
        this.makeResident(req.adapter, active)
      }
      req.extraBlocks = extra
      // the last prompt token is always computed (vLLM never serves a whole prompt from cache)
      req.cachedTokens = Math.max(0, Math.min(hit * BLOCK_TOKENS, req.promptTokens - 1))
      req.toPrefill = req.promptTokens - req.cachedTokens + req.generated
      this.m.prefixQueries.inc(this.labels, req.promptTokens)
      this.m.prefixHits.inc(this.labels, req.cachedTokens)
      this.running.push(req)
    }
  }

  /** Puts the adapter in a GPU slot (evicting the least recently used idle one), counting its load. */
  private makeResident(adapter: string, active: ReadonlySet<string>): void {
    if (this.resident.delete(adapter)) {
      this.resident.add(adapter) // most recently used
      return
    }
    for (const idle of this.resident) {
      if (this.resident.size < this.maxLoras) break
      if (!active.has(idle)) this.resident.delete(idle)
    }
    this.resident.add(adapter)
    this.loading++
    this.m.loraLoads.inc(this.labels)
  }

  private scheduleStep(): void {
    this.admit()
    if (this.running.length === 0) {
      this.stepping = false
      this.due = 0 // idle: the next step's deadline starts from its own start
      this.updateGauges()
      return
    }
    // what this step does: a chunk of prefill and one decode token for every decoding request
    let budget = PREFILL_CHUNK
    const prefilling: [Request, number][] = []
    for (const r of this.running) {
      if (r.toPrefill > 0 && budget > 0) {
        const n = Math.min(r.toPrefill, budget)
        budget -= n
        prefilling.push([r, n])
      }
    }
    const decoding = this.running.filter((r) => r.toPrefill === 0)
    const prefillTokens = PREFILL_CHUNK - budget
    const decodeMs = decoding.length > 0 ? this.cost('decode') * (1 + 0.01 * (decoding.length - 1)) : 0
    const starting = prefilling.some(([r]) => !r.began)
    for (const [r] of prefilling) r.began = true
    const loadMs = this.loading * (this.opts.loraLoadMs ?? this.opts.profile.loraLoadMs)
    this.loading = 0
    const stepMs = STEP_OVERHEAD_MS + loadMs + (starting ? this.cost('overhead') : 0) + decodeMs + prefillTokens * this.cost('prefill')
    this.updateGauges()
    this.stepping = true
    this.schedule(() => this.finishStep(prefilling, decoding), stepMs * this.opts.timeScale)
  }

  /**
   * Runs `fn` when a step of `ms` (wall) ends. Steps end at deadlines that add up exactly, so
   * timers' 1 ms granularity and event-loop delays do not stretch simulated time: a late step is
   * followed at once by the next. After an idle period, or when far behind (a starved CPU), the
   * deadlines restart from now rather than rushing to catch up. A virtual clock just runs it then.
   */
  private schedule(fn: () => void, ms: number): void {
    if (this.opts.clock) return this.opts.clock.after(ms, fn)
    if (ms <= 0) return void setImmediate(fn)
    const now = performance.now()
    this.due = now - this.due > MAX_LAG_MS ? now + ms : this.due + ms
    const wait = this.due - now
    if (wait >= 1) setTimeout(fn, wait)
    else setImmediate(fn)
  }

  private finishStep(prefilling: [Request, number][], decoding: Request[]): void {
    const now = this.now()
    for (const [r, n] of prefilling) {
      if (!this.running.includes(r)) continue
      r.toPrefill -= n
      this.m.promptTokens.inc(this.labels, n)
      if (r.toPrefill === 0 && r.generated === 0) {
        this.m.ttft.observe(this.labels, (now - r.started) / 1000)
        r.cb.onFirstToken?.(r.cachedTokens)
        this.emit(r, now)
      }
    }
    for (const r of decoding) {
      if (!this.running.includes(r)) continue
      // a new KV block every BLOCK_TOKENS output tokens; preempt the newest request when full
      if ((r.promptTokens + r.generated) % BLOCK_TOKENS === 0) {
        while (!this.kv.grow()) {
          const victim = this.running[this.running.length - 1]
          this.preempt(victim)
          if (victim === r) break
        }
        if (!this.running.includes(r)) continue
        r.extraBlocks++
      }
      this.m.itl.observe(this.labels, (now - r.lastTokenAt) / 1000)
      this.emit(r, now)
    }
    this.scheduleStep()
  }

  private emit(r: Request, now: number): void {
    r.cb.onToken(r.generated)
    r.generated++
    r.lastTokenAt = now
    this.m.generationTokens.inc(this.labels)
    if (r.generated >= r.outputTokens) {
      this.remove(r)
      this.m.success.inc({ ...this.labels, finished_reason: 'length' })
      this.m.e2e.observe(this.labels, (now - r.started) / 1000)
      r.done({ aborted: false, cachedTokens: r.cachedTokens })
    }
  }

  /** Frees a request's blocks and sends it back to the head of the queue, to recompute later. */
  private preempt(r: Request): void {
    this.remove(r)
    this.m.preemptions.inc(this.labels)
    this.waiting.unshift(r)
  }

  private remove(r: Request): void {
    const i = this.running.indexOf(r)
    if (i >= 0) {
      this.running.splice(i, 1)
      this.kv.release(r.hashes, r.extraBlocks)
      r.extraBlocks = 0
    } else {
      const w = this.waiting.indexOf(r)
      if (w >= 0) this.waiting.splice(w, 1)
    }
    this.updateGauges()
  }

  private updateGauges(): void {
    this.m.running.set(this.labels, this.running.length)
    this.m.waiting.set(this.labels, this.waiting.length)
    this.m.kv.set(this.labels, this.kv.usage)
    this.m.gpuKv.set(this.labels, this.kv.usage)
    // vLLM sets a new label set to the current time on each change; one series is kept here
    const running = [...this.activeAdapters()].sort().join(',')
    const waiting = [...new Set(this.waiting.flatMap((r) => (r.adapter === undefined ? [] : [r.adapter])))].sort().join(',')
    if (running !== this.loraInfo.running || waiting !== this.loraInfo.waiting) this.publishLoraInfo(running, waiting)
  }

  /** vllm:lora_requests_info: the adapters running and waiting, valued at the time of the change. */
  private publishLoraInfo(running: string, waiting: string): void {
    this.loraInfo = { running, waiting }
    this.m.loraInfo.reset()
    this.m.loraInfo.set({ max_lora: String(this.maxLoras), running_lora_adapters: running, waiting_lora_adapters: waiting }, Date.now() / 1000)
  }

  private createMetrics() {
    const r = this.metrics
    const labelNames = ['model_name'] as const
    const g = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [r] })
    const c = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [r] })
    const h = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, labelNames, buckets, registers: [r] })
    const m = {
      running: g('vllm:num_requests_running', 'Number of requests in model execution batches.'),
      waiting: g('vllm:num_requests_waiting', 'Number of requests waiting to be processed.'),
      kv: g('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.'),
      gpuKv: g('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage (deprecated name). 1 means 100 percent usage.'),
      promptTokens: c('vllm:prompt_tokens_total', 'Number of prefill tokens processed.'),
      generationTokens: c('vllm:generation_tokens_total', 'Number of generation tokens processed.'),
      preemptions: c('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.'),
      success: new Counter({ name: 'vllm:request_success_total', help: 'Count of successfully processed requests.', labelNames: ['model_name', 'finished_reason'], registers: [r] }),
      ttft: h('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]),
      itl: h('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5]),
      e2e: h('vllm:e2e_request_latency_seconds', 'Histogram of end to end request latency in seconds.', [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60]),
      prefixQueries: c('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.'),
      prefixHits: c('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.'),
      /** Not a vLLM metric: adapter loads into a GPU slot, for tests and the benchmark. */
      loraLoads: c('sim:lora_loads_total', 'LoRA adapters loaded into a GPU slot.')
    }
    this.zeroSeries(m)
    const cacheConfig = new Gauge({ name: 'vllm:cache_config_info', help: 'Information of the LLMEngine CacheConfig', labelNames: ['block_size', 'num_gpu_blocks', 'enable_prefix_caching'], registers: [r] })
    const loraInfo = new Gauge({ name: 'vllm:lora_requests_info', help: 'Running stats on lora requests.', labelNames: ['max_lora', 'waiting_lora_adapters', 'running_lora_adapters'], registers: [r] })
    return { ...m, cacheConfig, loraInfo }
  }
}
