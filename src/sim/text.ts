import { createHash } from 'node:crypto'

/** Rough token count like a BPE tokenizer on English (~4 characters a token). */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4))
}

const WORDS = ['the', 'model', 'answers', 'with', 'simulated', 'tokens', 'from', 'brixgate', 'sim', 'and', 'more', 'words', 'follow', 'here']

/** Deterministic output token i for a given seed (one token = one word plus a space). */
export function outputToken(seed: number, i: number): string {
  return WORDS[(seed + i * 5) % WORDS.length] + ' '
}

export function seedOf(text: string): number {
  return createHash('sha1').update(text).digest().readUInt32BE(0)
}

/** Deterministic unit-length embedding of `dims` floats. */
export function embed(text: string, dims = 16): number[] {
  const h = createHash('sha256').update(text).digest()
  const v = Array.from({ length: dims }, (_, i) => (h[i % h.length] - 127.5) / 127.5)
  const norm = Math.hypot(...v) || 1
  return v.map((x) => x / norm)
}

/** Text of the prompt as vLLM would see it: chat messages' contents joined, or the prompt. */
export function promptText(body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) {
    return body.messages
      .map((m) => {
        const c = (m as { content?: unknown })?.content
        if (typeof c === 'string') return c
        if (Array.isArray(c)) return c.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('')
        return ''
      })
      .join('\n')
  }
  const p = body.prompt ?? body.input
  if (typeof p === 'string') return p
  if (Array.isArray(p)) return p.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n')
  return ''
}
