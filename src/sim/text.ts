import { createHash } from 'node:crypto'
import { decode, encode } from 'gpt-tokenizer'
import { LRUCache } from 'lru-cache'

/** Runs of non-space longer than this are encoded in pieces: BPE's merge loop is quadratic in a word's length. */
const MAX_RUN = 64
const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1},}`, 'g')

/**
 * The simulator's one tokenizer: OpenAI's BPE (gpt-tokenizer, shipped in the package). Linear in
 * the text's length: a 1 MB one-word message costs milliseconds, not minutes.
 */
export function tokenize(text: string): number[] {
  if (text.length === 0) return []
  LONG_RUN.lastIndex = 0
  const long = LONG_RUN.test(text)
  LONG_RUN.lastIndex = 0 // matchAll starts where test() stopped
  if (!long) return encode(text)
  const out: number[] = []
  const add = (piece: string) => {
    for (const t of encode(piece)) out.push(t)
  }
  let last = 0
  for (const m of text.matchAll(LONG_RUN)) {
    if (m.index > last) add(text.slice(last, m.index))
    for (let i = 0; i < m[0].length; i += MAX_RUN) add(m[0].slice(i, i + MAX_RUN))
    last = m.index + m[0].length
  }
  if (last < text.length) add(text.slice(last))
  return out
}

/** Token ids back to text (vLLM's /detokenize). */
export function detokenize(tokens: readonly number[]): string {
  return decode(tokens as number[])
}

/** A relevance score in [0, 1] for rerank and score: the query's words found in the text, a hash breaking ties. */
export function relevance(query: string, text: string): number {
  const words = (t: string) => new Set(t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])
  const q = words(query)
  const d = words(text)
  let shared = 0
  for (const w of q) if (d.has(w)) shared++
  const tie = (seedOf(`${query}\u0000${text}`) % 1000) / 100_000
  return Math.min(1, (q.size > 0 ? shared / q.size : 0) * 0.99 + tie)
}

export function countTokens(text: string): number {
  return tokenize(text).length
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

/**
 * The prompt as the engine sees it, in parts. Chat messages go through a simple template
 * (`<|role|>content\n` per message), so the whole conversation is the prefix; else the prompt.
 */
function promptParts(body: Record<string, unknown>): string[] {
  if (Array.isArray(body.messages)) {
    return body.messages.map((m) => {
      const msg = m as { role?: unknown; content?: unknown }
      const c = msg?.content
      const content = typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('') : ''
      return `<|${typeof msg?.role === 'string' ? msg.role : 'user'}|>${content}\n`
    })
  }
  const p = body.prompt ?? body.input
  if (typeof p === 'string') return [p]
  if (Array.isArray(p)) return [p.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n')]
  return []
}

export function promptText(body: Record<string, unknown>): string {
  return promptParts(body).join('')
}

/**
 * Messages repeat (system prompts, conversation history), so each one's tokens are kept: BPE on a
 * 2000-token prompt takes ~1 ms, which would stall every simulated pod in this process.
 */
const messageTokens = new LRUCache<string, number[]>({ max: 4096 })

/** The prompt's token ids: each message tokenized on its own (the template's markers separate them). */
export function promptTokens(body: Record<string, unknown>): number[] {
  return promptParts(body).flatMap((part) => {
    let tokens = messageTokens.get(part)
    if (!tokens) messageTokens.set(part, (tokens = tokenize(part)))
    return tokens
  })
}
