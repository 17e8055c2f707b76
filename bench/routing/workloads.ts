/**
 * Workloads of the routing benchmark, scaled down from the public ones (parameters in
 * docs/benchmarks.md). Each yields request bodies; arrivals are Poisson at the asked rate.
 */

import { rng } from '../../src/sim/random.js'

/** Every strategy sees the same requests: the workloads draw from a seeded PRNG. */
export { rng }

const VOCAB = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu policy customer invoice account region support ticket billing contract renewal'.split(' ')

/** The simulator's BPE tokenizer makes ~1.41 tokens of a word of this vocabulary (measured over 50k words). */
const TOKENS_PER_WORD = 1.41

/** About `tokens` tokens (of the simulator's tokenizer) of distinct text for a seed. */
export function text(seed: number, tokens: number): string {
  const r = rng(seed)
  const words: string[] = []
  for (let i = 0; i < Math.round(tokens / TOKENS_PER_WORD); i++) words.push(VOCAB[Math.floor(r() * VOCAB.length)] + (r() < 0.1 ? '.' : ''))
  return words.join(' ')
}

/** Zipf(s) sampler over n items. */
function zipf(n: number, s: number, r: () => number): () => number {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s)
  const total = weights.reduce((a, b) => a + b, 0)
  const cdf: number[] = []
  let acc = 0
  for (const w of weights) cdf.push((acc += w / total))
  return () => {
    const u = r()
    let i = 0
    while (i < n - 1 && cdf[i] < u) i++
    return i
  }
}

/**
 * Groups 0..n-1 once each, in order, then `rest()`: every shared prefix is seen during the
 * warm-up, so the measured window is the steady state rather than a count of first sightings.
 */
function primed(n: number, rest: () => number): () => number {
  let i = 0
  return () => (i < n ? i++ : rest())
}

export interface Body {
  model: string
  messages: { role: string; content: string }[]
  max_tokens: number
  stream: true
}

export interface Workload {
  name: string
  description: string
  /** Cluster: GPU profile per pod. */
  gpus: string[]
  /** Requests share prefixes, so the caches need a warm-up before measuring. */
  sharesPrefixes?: boolean
  /** LoRA adapters every pod serves, and the adapter slots per pod (vLLM --max-loras). */
  adapters?: string[]
  maxLoras?: number
  /** Requests each pod runs at once (vLLM --max-num-seqs), when not CLUSTER.maxBatch. */
  maxBatch?: number
  /** Simulated request rates (req/s) to run at over HTTP, and on the virtual clock (which affords more). */
  rates: number[]
  virtualRates: number[]
  /** The next request; `conversation` requests must wait for their previous turn (multi-turn). */
  next(r: () => number): { body: Body; conversation?: number }
  /** Multi-turn: record the assistant's answer into the conversation. */
  answered?(conversation: number, answer: string): void
}

const chat = (system: string, user: string, maxTokens: number, model = 'm'): Body => ({
  model,
  messages: [
    { role: 'system', content: system },
    { role: 'user', content: user }
  ],
  max_tokens: maxTokens,
  stream: true
})

/** Pods per cluster and their KV capacity (tokens), shared by all workloads. */
export const CLUSTER = { pods: 4, kvTokens: 12_000, maxBatch: 32 }

export function workloads(): Workload[] {
  const b2bPrompts = Array.from({ length: 16 }, (_, g) => text(1000 + g, 2000))
  const gspPrompts = Array.from({ length: 32 }, (_, g) => text(2000 + g, 800))
  const conversations: { role: string; content: string }[][] = Array.from({ length: 24 }, (_, c) => [{ role: 'system', content: text(3000 + c, 300) }])
  const adapters = Array.from({ length: 12 }, (_, i) => `lora-${i}`)
  let adapterPick: (() => number) | undefined
  let b2bPick: (() => number) | undefined
  let gspPick: (() => number) | undefined
  const busy = new Set<number>()
  let q = 0
  type Next = (r: () => number) => Body | { body: Body; conversation?: number }
  const mk = (name: string, description: string, gpus: string[], [rates, virtualRates]: [number[], number[]], next: Next, extra: Partial<Workload> = {}): Workload => ({
    name,
    description,
    gpus,
    rates,
    virtualRates,
    ...extra,
    next: (r) => normalise(next(r))
  })
  const a100s = Array(CLUSTER.pods).fill('a100')
  const shared = { sharesPrefixes: true }
  return [
    mk('b2b-saas', '16 tenants × 2000-token system prompt (working set ≈ 67 % of cluster KV, 2.7× one pod), 30-token questions, 16-token answers', a100s, [[8, 12, 16], [8, 12, 16, 20, 24]], (r) => {
      b2bPick ??= primed(b2bPrompts.length, () => Math.floor(r() * b2bPrompts.length))
      return chat(b2bPrompts[b2bPick()], text(10_000 + q++, 30), 16)
    }, shared),
    mk('gsp', 'SGLang generated-shared-prefix: 32 groups × 800-token prefix, 60-token questions, 32-token answers, uniform', a100s, [[10, 20], [10, 20, 30, 40, 50]], (r) => {
      gspPick ??= primed(gspPrompts.length, () => Math.floor(r() * gspPrompts.length))
      return chat(gspPrompts[gspPick()], text(20_000 + q++, 60), 32)
    }, shared),
    (() => {
      let pick: (() => number) | undefined
      return mk('gsp-zipf', 'as gsp, group popularity Zipf(1.1)', a100s, [[10, 20], [10, 20, 30, 40, 50]], (r) => {
        pick ??= primed(gspPrompts.length, zipf(gspPrompts.length, 1.1, r))
        return chat(gspPrompts[pick()], text(30_000 + q++, 60), 32)
      }, shared)
    })(),
    mk(
      'multi-turn',
      '24 conversations, 300-token system prompt, each turn adds a 60-token question and the 32-token answer to the history',
      a100s,
      [[8, 16], [4, 8, 12, 16, 20]],
      (r) => {
        // a conversation waits for its answer before its next turn
        const free = conversations.map((_, i) => i).filter((i) => !busy.has(i))
        const c = free.length > 0 ? free[Math.floor(r() * free.length)] : Math.floor(r() * conversations.length)
        busy.add(c)
        conversations[c].push({ role: 'user', content: text(40_000 + q++, 60) })
        if (conversations[c].length > 40) conversations[c].splice(1, 2) // keep within the context window
        return { body: { model: 'm', messages: [...conversations[c]], max_tokens: 32, stream: true }, conversation: c }
      },
      {
        ...shared,
        answered: (c, answer) => {
          conversations[c].push({ role: 'assistant', content: answer })
          busy.delete(c)
        }
      }
    ),
    mk('low-sharing', 'ShareGPT-like control: unique prompts of 100–1500 tokens, 16–128-token answers', a100s, [[10, 20], [10, 15, 20, 25, 30]], (r) =>
      chat('', text(50_000 + q++, 100 + Math.floor(r() * 1400)), 16 + Math.floor(r() * 112))
    ),
    mk(
      'multi-lora',
      '12 LoRA adapters of the model with Zipf(1.1) popularity, 2 adapter slots per pod; unique prompts of 100–800 tokens, 32-token answers',
      a100s,
      [[10, 20], [10, 20, 30, 35, 40]],
      (r) => {
        adapterPick ??= zipf(adapters.length, 1.1, r)
        return chat('', text(70_000 + q++, 100 + Math.floor(r() * 700)), 32, adapters[adapterPick()])
      },
      { adapters, maxLoras: 2 }
    ),
    (() => {
      const tenants = Array.from({ length: 8 }, (_, g) => text(5000 + g, 1024))
      let pick: (() => number) | undefined
      return mk(
        'hot-tenant',
        'decode-bound: 8 tenants × 1024-token system prompt, Zipf(1.1) (the top tenant sends ~40 %), 128–384-token questions, 64–128-token answers, a batch cap of 16 running requests per pod',
        a100s,
        [[13, 26], [10, 18, 26, 34]],
        (r) => {
          pick ??= primed(tenants.length, zipf(tenants.length, 1.1, r))
          return chat(tenants[pick()], text(80_000 + q++, 128 + Math.floor(r() * 256)), 64 + Math.floor(r() * 64))
        },
        { ...shared, maxBatch: 16 }
      )
    })(),
    mk('heterogeneous', 'low-sharing traffic on a mixed cluster: l4, a10g, a100, h100', ['l4', 'a10g', 'a100', 'h100'], [[3, 6], [3, 6, 9, 12, 15]], (r) =>
      chat('', text(60_000 + q++, 100 + Math.floor(r() * 900)), 16 + Math.floor(r() * 48))
    )
  ]
}

function normalise(x: Body | { body: Body; conversation?: number }): { body: Body; conversation?: number } {
  return 'body' in x ? x : { body: x }
}
