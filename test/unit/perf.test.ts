import t from 'tap'
import { gpuOf, PerfTracker } from '../../src/telemetry/perf.js'
import { parseVllmMetrics } from '../../src/telemetry/pod-metrics.js'
import { pod } from '../helpers/routing.js'

t.test('GPU labels seed the estimate until the pod is measured', async (t) => {
  const perf = new PerfTracker()
  const h100 = pod('h', { labels: { 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' } })
  const l4 = pod('l', { labels: { gpu: 'l4' } })
  t.equal(gpuOf(h100), 'h100')
  t.ok(perf.get(h100).tpotMs < perf.get(l4).tpotMs, 'h100 seeded faster than l4')
  t.equal(perf.get(pod('x')).measured, false)
})

t.test('measurements replace the seed, then move by EWMA; prefill speed only from computed prompts', async (t) => {
  const perf = new PerfTracker()
  const p = pod('a')
  perf.observe(p, { promptTokens: 1000, cachedTokens: 0, completionTokens: 11, ttftMs: 100, e2eMs: 300 })
  t.match(perf.get(p), { measured: true, ttftMs: 100, tpotMs: 20, e2eMs: 300 })
  const prefill = perf.get(p).prefillMsPerToken
  perf.observe(p, { promptTokens: 1000, cachedTokens: 990, completionTokens: 11, ttftMs: 10, e2eMs: 210 })
  t.equal(perf.get(p).prefillMsPerToken, prefill, 'a mostly cached prompt teaches nothing about prefill speed')
  t.equal(perf.get(p).ttftMs, 100 + 0.2 * (10 - 100), 'EWMA α = 0.2')
  perf.observe(p, { promptTokens: 1000, cachedTokens: 0, completionTokens: 11, ttftMs: 900, e2eMs: 1100, queuedAhead: 3 })
  t.equal(perf.get(p).prefillMsPerToken, prefill, 'a TTFT measured behind queued prefills teaches nothing about prefill speed')
  t.equal(perf.get(p).prefillTurnMs, 100 + 0.2 * (10 - 100) + 0.2 * (900 / 4 - (100 + 0.2 * (10 - 100))), 'but it does teach the prefill turn: TTFT ÷ (ahead + 1)')
  perf.observe(p, { promptTokens: 1000, cachedTokens: 0, completionTokens: 11, ttftMs: 300, e2eMs: 500, queuedAhead: 0 })
  t.equal(perf.get(p).prefillMsPerToken, prefill + 0.2 * (0.3 - prefill), 'with nothing ahead it does')
})

t.test('vLLM metrics: names with and without _total, fallbacks, LoRA info', async (t) => {
  const m = parseVllmMetrics(
    [
      'vllm:num_requests_running{model_name="m"} 3',
      'vllm:num_requests_waiting{model_name="m"} 1',
      'vllm:gpu_cache_usage_perc{model_name="m"} 0.4',
      'vllm:prefix_cache_queries_total{model_name="m"} 100',
      'vllm:prefix_cache_hits{model_name="m"} 25',
      'vllm:lora_requests_info{max_lora="2",running_lora_adapters="sql,chat",waiting_lora_adapters=""} 1700000000',
      'vllm:cache_config_info{block_size="16",num_gpu_blocks="100"} 1'
    ].join('\n'),
    5
  )
  t.match(m, { at: 5, running: 3, waiting: 1, kvCacheUsage: 0.4, gpuCacheUsage: 0.4, prefixQueries: 100, prefixHits: 25, runningAdapters: ['sql', 'chat'], maxLora: 2, blockSize: 16, kvCapacityTokens: 1600 })
  t.match(parseVllmMetrics('garbage', 1), { running: undefined, kvCacheUsage: undefined })
})
