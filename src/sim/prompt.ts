import { tokenBlockHashes } from '../routing/prefix/block-hash.js'
import { BLOCK_TOKENS } from './engine.js'
import { promptText, promptTokens, seedOf } from './text.js'

/** A request's prompt as a simulated engine processes it. */
export interface EnginePrompt {
  tokens: number[]
  /** Chained hashes of its full KV blocks: what the prefix cache looks up. */
  hashes: number[]
  /** The LoRA adapter it runs on; undefined for the base model. */
  adapter: string | undefined
  /** Seeds the deterministic answer. */
  seed: number
}

/** As in vLLM, a LoRA adapter's KV blocks are its own: the adapter salts the block hashes. */
export function enginePrompt(body: Record<string, unknown>, baseModel: string, loras: readonly string[]): EnginePrompt {
  const tokens = promptTokens(body)
  const model = body.model
  const adapter = typeof model === 'string' && model !== baseModel && loras.includes(model) ? model : undefined
  return { tokens, hashes: tokenBlockHashes(tokens, BLOCK_TOKENS, adapter === undefined ? 0 : seedOf(adapter)), adapter, seed: seedOf(promptText(body)) }
}
