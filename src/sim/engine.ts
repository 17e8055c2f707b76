import { setTimeout as sleep } from 'node:timers/promises'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { GpuProfile } from './profiles.js'

export interface EngineOptions {
  model: string
  profile: GpuProfile
  /** Multiplies every delay: 0.1 runs ten times faster than the profile says. */
  timeScale: number
  /** Overrides of the profile's costs (ms). */
  prefillMsPerToken?: number
  decodeMsPerToken?: number
  overheadMs?: number
}

export interface GenerationCallbacks {
  /** Called once the prompt is processed, before the first output token. */
  onFirstToken?: () => void
  onToken: (index: number) => void
}

export interface GenerationResult {
  aborted: boolean
}

/**
 * A vLLM-like engine, v1: a batch of at most maxBatch running requests (the rest wait), a prefill
 * delay per prompt token and a decode delay per output token that grows with the batch size.
 * Exposes vLLM's metric names.
 */
export class SimEngine {
  readonly metrics = new Registry()
  private running = 0
  private readonly waiting: (() => void)[] = []
  private readonly m: {
    running: Gauge
    waiting: Gauge
    kv: Gauge
    gpuKv: Gauge
    promptTokens: Counter
    generationTokens: Counter
    success: Counter
    ttft: Histogram
    itl: Histogram
    e2e: Histogram
    prefixQueries: Counter
    prefixHits: Counter
  }
  private kvTokensInUse = 0

  constructor(private readonly opts: EngineOptions, loras: readonly string[] = []) {
    const r = this.metrics
    const model_name = opts.model
    const labelNames = ['model_name'] as const
    const g = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [r] })
    const c = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [r] })
    const h = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, labelNames, buckets, registers: [r] })
    this.m = {
      running: g('vllm:num_requests_running', 'Number of requests in model execution batches.'),
      waiting: g('vllm:num_requests_waiting', 'Number of requests waiting to be processed.'),
      kv: g('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.'),
      gpuKv: g('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage (deprecated name). 1 means 100 percent usage.'),
      promptTokens: c('vllm:prompt_tokens_total', 'Number of prefill tokens processed.'),
      generationTokens: c('vllm:generation_tokens_total', 'Number of generation tokens processed.'),
      success: new Counter({ name: 'vllm:request_success_total', help: 'Count of successfully processed requests.', labelNames: ['model_name', 'finished_reason'], registers: [r] }),
      ttft: h('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]),
      itl: h('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5]),
      e2e: h('vllm:e2e_request_latency_seconds', 'Histogram of end to end request latency in seconds.', [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60]),
      prefixQueries: c('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.'),
      prefixHits: c('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.')
    }
    // Series exist from the start, as in vLLM (prometheus_client exports labelled zeros).
    for (const metric of Object.values(this.m)) {
      if (metric instanceof Gauge) metric.set({ model_name }, 0)
      else if (metric instanceof Histogram) metric.zero({ model_name })
      else if (metric !== this.m.success) metric.inc({ model_name }, 0)
    }
    new Gauge({ name: 'vllm:cache_config_info', help: 'Information of the LLMEngine CacheConfig', labelNames: ['block_size', 'num_gpu_blocks', 'enable_prefix_caching'], registers: [r] })
      .set({ block_size: '16', num_gpu_blocks: String(Math.floor(opts.profile.kvTokens / 16)), enable_prefix_caching: 'True' }, 1)
    new Gauge({ name: 'vllm:lora_requests_info', help: 'Running stats on lora requests.', labelNames: ['max_lora', 'waiting_lora_adapters', 'running_lora_adapters'], registers: [r] })
      .set({ max_lora: String(Math.max(loras.length, 1)), waiting_lora_adapters: '', running_lora_adapters: '' }, Date.now() / 1000)
  }

  get stats() {
    return { running: this.running, waiting: this.waiting.length }
  }

  private cost(kind: 'prefill' | 'decode' | 'overhead'): number {
    const p = this.opts.profile
    const v = kind === 'prefill' ? this.opts.prefillMsPerToken ?? p.prefillMsPerToken : kind === 'decode' ? this.opts.decodeMsPerToken ?? p.decodeMsPerToken : this.opts.overheadMs ?? p.overheadMs
    return v * this.opts.timeScale
  }

  /** Runs one request through the batch; resolves when it finishes or `signal` aborts. */
  async generate(promptTokens: number, outputTokens: number, signal: AbortSignal, cb: GenerationCallbacks): Promise<GenerationResult> {
    const start = performance.now()
    const model_name = this.opts.model
    if (this.running >= this.opts.profile.maxBatch) {
      await new Promise<void>((resolve) => this.waiting.push(resolve))
      if (signal.aborted) {
        this.waiting.shift()?.() // pass the free slot on
        return { aborted: true }
      }
    }
    this.running += 1
    this.kvTokensInUse += promptTokens + outputTokens
    this.updateGauges()
    try {
      this.m.prefixQueries.inc({ model_name }, promptTokens)
      await sleep(this.cost('overhead') + promptTokens * this.cost('prefill'), undefined, { signal })
      this.m.promptTokens.inc({ model_name }, promptTokens)
      this.m.ttft.observe({ model_name }, (performance.now() - start) / 1000)
      cb.onFirstToken?.()
      let last = performance.now()
      for (let i = 0; i < outputTokens; i++) {
        if (i > 0) {
          // decode slows down as the batch grows (memory-bandwidth bound)
          await sleep(this.cost('decode') * (1 + 0.01 * (this.running - 1)), undefined, { signal })
          const now = performance.now()
          this.m.itl.observe({ model_name }, (now - last) / 1000)
          last = now
        }
        this.m.generationTokens.inc({ model_name })
        cb.onToken(i)
      }
      this.m.success.inc({ model_name, finished_reason: 'length' })
      this.m.e2e.observe({ model_name }, (performance.now() - start) / 1000)
      return { aborted: false }
    } catch (err) {
      if ((err as Error).name === 'AbortError') return { aborted: true }
      throw err
    } finally {
      this.running -= 1
      this.kvTokensInUse -= promptTokens + outputTokens
      this.waiting.shift()?.()
      this.updateGauges()
    }
  }

  private updateGauges(): void {
    const model_name = this.opts.model
    const usage = Math.min(1, this.kvTokensInUse / this.opts.profile.kvTokens)
    this.m.running.set({ model_name }, this.running)
    this.m.waiting.set({ model_name }, this.waiting.length)
    this.m.kv.set({ model_name }, usage)
    this.m.gpuKv.set({ model_name }, usage)
  }
}
