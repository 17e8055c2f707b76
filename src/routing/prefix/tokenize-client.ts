import type { Pod } from '../../discovery/pod.js'
import type { UpstreamPools } from '../../proxy/pools.js'

/**
 * The prompt's token ids from a pod's vLLM `/tokenize` (chat messages go through the pod's own
 * chat template, so the ids are the ones its prefix cache hashes). Any failure or a reply slower
 * than `timeoutMs` gives undefined: the caller falls back to text blocks.
 */
export async function fetchTokens(pools: UpstreamPools, pod: Pod, body: Record<string, unknown>, timeoutMs: number): Promise<number[] | undefined> {
  const query = Array.isArray(body.messages) ? { model: body.model, messages: body.messages } : { model: body.model, prompt: body.prompt }
  try {
    const res = await pools.request(pod.address, {
      method: 'POST',
      path: '/tokenize',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(query),
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs
    })
    if (res.statusCode !== 200) {
      await res.body.dump()
      return undefined
    }
    const reply = (await res.body.json()) as { tokens?: unknown }
    return Array.isArray(reply.tokens) && reply.tokens.every((t) => Number.isInteger(t)) ? (reply.tokens as number[]) : undefined
  } catch {
    return undefined
  }
}
