import parsePrometheusTextFormat from 'parse-prometheus-text-format'

/** What the gateway reads from a vLLM pod's /metrics. Absent values stay undefined. */
export interface PodMetrics {
  at: number
  running?: number
  waiting?: number
  /** 0..1; vllm:kv_cache_usage_perc, else the older vllm:gpu_cache_usage_perc. */
  kvCacheUsage?: number
  /** vllm:gpu_cache_usage_perc, else kv_cache_usage_perc. */
  gpuCacheUsage?: number
  prefixQueries?: number
  prefixHits?: number
  promptTokens?: number
  generationTokens?: number
  /** LoRA adapters currently running, and the adapter slots (vllm:lora_requests_info). */
  runningAdapters?: string[]
  maxLora?: number
  /** KV block size in tokens, and the cache's capacity in tokens (vllm:cache_config_info). */
  blockSize?: number
  kvCapacityTokens?: number
}

/** The snapshot if it is at most `staleAfterMs` old at `now`: older metrics must not steer routing. */
export function fresh(m: PodMetrics | undefined, now: number, staleAfterMs: number): PodMetrics | undefined {
  return m && now - m.at <= staleAfterMs ? m : undefined
}

/** Prompt tokens served from cache over all prompt tokens, across pods (0 before any query). */
export function prefixHitRate(pods: readonly PodMetrics[]): number {
  let hits = 0
  let queries = 0
  for (const m of pods) {
    hits += m.prefixHits ?? 0
    queries += m.prefixQueries ?? 0
  }
  return queries > 0 ? hits / queries : 0
}

function sum(families: Map<string, { value?: string; labels?: Record<string, string> }[]>, ...names: string[]): number | undefined {
  for (const name of names) {
    const samples = families.get(name)
    if (!samples || samples.length === 0) continue
    let total = 0
    for (const s of samples) total += Number(s.value ?? 0)
    if (Number.isFinite(total)) return total
  }
  return undefined
}

/** Parses Prometheus text from a vLLM pod; names with and without the `_total` suffix are accepted. */
export function parseVllmMetrics(text: string, at: number): PodMetrics {
  const families = new Map<string, { value?: string; labels?: Record<string, string> }[]>()
  // the parser drops a last line without its newline
  for (const f of parsePrometheusTextFormat(text.endsWith('\n') ? text : text + '\n')) families.set(f.name, f.metrics)
  const lora = families.get('vllm:lora_requests_info')
  // the newest sample (largest value = timestamp) describes the current adapters
  const latest = lora?.reduce<(typeof lora)[number] | undefined>((a, b) => (!a || Number(b.value) > Number(a.value) ? b : a), undefined)
  const cacheConfig = families.get('vllm:cache_config_info')?.[0]?.labels
  const kv = sum(families, 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc')
  return {
    at,
    running: sum(families, 'vllm:num_requests_running'),
    waiting: sum(families, 'vllm:num_requests_waiting'),
    kvCacheUsage: kv,
    gpuCacheUsage: sum(families, 'vllm:gpu_cache_usage_perc', 'vllm:kv_cache_usage_perc'),
    prefixQueries: sum(families, 'vllm:prefix_cache_queries_total', 'vllm:prefix_cache_queries'),
    prefixHits: sum(families, 'vllm:prefix_cache_hits_total', 'vllm:prefix_cache_hits'),
    promptTokens: sum(families, 'vllm:prompt_tokens_total', 'vllm:prompt_tokens'),
    generationTokens: sum(families, 'vllm:generation_tokens_total', 'vllm:generation_tokens'),
    runningAdapters: latest?.labels ? (latest.labels.running_lora_adapters ?? '').split(',').filter(Boolean) : undefined,
    maxLora: latest?.labels?.max_lora !== undefined ? Number(latest.labels.max_lora) : undefined,
    blockSize: cacheConfig?.block_size !== undefined ? Number(cacheConfig.block_size) : undefined,
    kvCapacityTokens: cacheConfig?.num_gpu_blocks && cacheConfig.block_size ? Number(cacheConfig.num_gpu_blocks) * Number(cacheConfig.block_size) || undefined : undefined
  }
}
