/**
 * Simulated GPUs serving an 8B-parameter model (Llama-3-8B: 16 GB of BF16 weights; KV cache
 * 128 KiB per token = 2 × 32 layers × 8 KV heads × 128 dims × 2 bytes), derived from public specs:
 *
 * | GPU         | memory | HBM bandwidth | dense BF16 |
 * |-------------|--------|---------------|------------|
 * | L4          | 24 GB  | 300 GB/s      | 121 TFLOPS |
 * | A10G        | 24 GB  | 600 GB/s      | 125 TFLOPS |
 * | A100 80 GB  | 80 GB  | 2039 GB/s     | 312 TFLOPS |
 * | H100 SXM    | 80 GB  | 3350 GB/s     | 989 TFLOPS |
 *
 * - decode ms/token (batch 1, memory bound) = 16 GB / bandwidth
 * - prefill ms/token (compute bound) = 16 GFLOP / (peak × 50 % utilisation)
 * - KV tokens = (memory × 0.9 − 16 GB weights) / 128 KiB
 * - LoRA load ms = a rank-16 adapter on every linear layer (42 M params, 84 MB BF16) copied from
 *   host memory over PCIe (L4/A10G/A100: gen 4 x16, ~20 GB/s achieved; H100: gen 5, ~40 GB/s)
 *   plus ~4 ms of vLLM slot bookkeeping
 */
export interface GpuProfile {
  name: string
  /** Per-request fixed cost when its prefill starts, ms. */
  overheadMs: number
  prefillMsPerToken: number
  decodeMsPerToken: number
  /** Requests decoded together at most (vLLM max_num_seqs); more wait. */
  maxBatch: number
  /** KV cache capacity in tokens. */
  kvTokens: number
  /** Loading a LoRA adapter that is not in a GPU slot, ms. */
  loraLoadMs: number
}

export const gpuProfiles: Record<string, GpuProfile> = {
  l4: { name: 'l4', overheadMs: 5, prefillMsPerToken: 0.26, decodeMsPerToken: 53, maxBatch: 256, kvTokens: 42_000, loraLoadMs: 8 },
  a10g: { name: 'a10g', overheadMs: 5, prefillMsPerToken: 0.26, decodeMsPerToken: 27, maxBatch: 256, kvTokens: 42_000, loraLoadMs: 8 },
  a100: { name: 'a100', overheadMs: 3, prefillMsPerToken: 0.1, decodeMsPerToken: 7.8, maxBatch: 256, kvTokens: 427_000, loraLoadMs: 8 },
  h100: { name: 'h100', overheadMs: 2, prefillMsPerToken: 0.032, decodeMsPerToken: 4.8, maxBatch: 256, kvTokens: 427_000, loraLoadMs: 6 }
}

export function gpuProfile(name: string): GpuProfile {
  const p = gpuProfiles[name.toLowerCase()]
  if (!p) throw new Error(`unknown GPU profile "${name}" (known: ${Object.keys(gpuProfiles).join(', ')})`)
  return p
}
