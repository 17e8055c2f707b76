/**
 * Speed of simulated GPUs. v1 models latency only: fixed overhead, prefill cost per prompt token,
 * decode cost per output token growing with the batch. Ratios follow public specs
 * (dense BF16 TFLOPS and HBM bandwidth: L4 ~121 TFLOPS / 300 GB/s, A10G ~125 / 600,
 * A100-80G ~312 / 2039, H100-SXM ~989 / 3350); absolute values are scaled for a 7–8B model.
 */
export interface GpuProfile {
  name: string
  overheadMs: number
  prefillMsPerToken: number
  decodeMsPerToken: number
  /** Requests decoded together at most; more wait. */
  maxBatch: number
  /** KV cache capacity in tokens. */
  kvTokens: number
}

export const gpuProfiles: Record<string, GpuProfile> = {
  l4: { name: 'l4', overheadMs: 8, prefillMsPerToken: 0.12, decodeMsPerToken: 45, maxBatch: 32, kvTokens: 60_000 },
  a10g: { name: 'a10g', overheadMs: 8, prefillMsPerToken: 0.11, decodeMsPerToken: 24, maxBatch: 32, kvTokens: 60_000 },
  a100: { name: 'a100', overheadMs: 5, prefillMsPerToken: 0.045, decodeMsPerToken: 8, maxBatch: 128, kvTokens: 400_000 },
  h100: { name: 'h100', overheadMs: 4, prefillMsPerToken: 0.015, decodeMsPerToken: 5, maxBatch: 256, kvTokens: 500_000 }
}

export function gpuProfile(name: string): GpuProfile {
  const p = gpuProfiles[name.toLowerCase()]
  if (!p) throw new Error(`unknown GPU profile "${name}" (known: ${Object.keys(gpuProfiles).join(', ')})`)
  return p
}
