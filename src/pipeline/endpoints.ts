import { z } from 'zod'

/** The inference endpoints the gateway routes; each is proxied to a pod serving the body's model. */
export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages' | 'rerank' | 'score' | 'tokenize' | 'detokenize'

/** How an answer reports the tokens it used: OpenAI's `usage`, the Responses API's, or Anthropic's. */
export type UsageFormat = 'openai' | 'responses' | 'anthropic'

export interface EndpointSpec {
  /** The gateway's path, and other paths clients use for the same thing (vLLM's own). */
  path: string
  aliases?: readonly string[]
  /** Where a vLLM pod serves it. */
  upstreamPath: string
  /** `stream: true` is allowed (else a 400). */
  streams: boolean
  /** For streams the gateway asks for the usage event itself (stream_options.include_usage). */
  injectsUsage: boolean
  usage: UsageFormat
  /**
   * Errors carry a top-level `"type":"error"` (a superset of OpenAI's envelope): in every error body
   * (Anthropic clients read that shape), and in the event that ends a broken stream (a named
   * `error` event, as Anthropic and the Responses API send).
   */
  typedErrorBody: boolean
  typedStreamError: boolean
  /** Output tokens the request may generate, for TPM reservations and routing. */
  maxTokens: (body: Record<string, unknown>) => number | undefined
  /** The body fields the gateway reads; everything else is the engine's business. */
  schema: z.ZodType<Record<string, unknown>>
}

const common = {
  model: z.unknown(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish()
}
const tokenLimit = z.number().int().nonnegative().nullish()
const required = z.unknown().refine((p) => p !== undefined && p !== null, 'is required')
const int = (v: unknown) => (typeof v === 'number' ? v : undefined)
const none = () => undefined

const generation = { streams: true, injectsUsage: true, usage: 'openai', typedErrorBody: false, typedStreamError: false } as const
const oneShot = { streams: false, injectsUsage: false, usage: 'openai', typedErrorBody: false, typedStreamError: false, maxTokens: none } as const

/** Every routed endpoint: paths as OpenAI, Anthropic and vLLM name them (AIBrix routes the same set). */
export const endpoints: Record<Endpoint, EndpointSpec> = {
  chat: {
    ...generation,
    path: '/v1/chat/completions',
    upstreamPath: '/v1/chat/completions',
    maxTokens: (b) => int(b.max_completion_tokens) ?? int(b.max_tokens),
    schema: z.looseObject({ ...common, messages: z.array(z.unknown()).min(1), max_tokens: tokenLimit, max_completion_tokens: tokenLimit })
  },
  completions: {
    ...generation,
    path: '/v1/completions',
    upstreamPath: '/v1/completions',
    maxTokens: (b) => int(b.max_tokens),
    schema: z.looseObject({ ...common, prompt: required, max_tokens: tokenLimit })
  },
  embeddings: { ...oneShot, path: '/v1/embeddings', upstreamPath: '/v1/embeddings', schema: z.looseObject({ ...common, input: required }) },
  responses: {
    streams: true,
    // a Responses stream always ends with response.completed, which carries the usage
    injectsUsage: false,
    usage: 'responses',
    typedErrorBody: false,
    typedStreamError: true,
    path: '/v1/responses',
    upstreamPath: '/v1/responses',
    maxTokens: (b) => int(b.max_output_tokens),
    schema: z.looseObject({ ...common, input: required, max_output_tokens: tokenLimit, previous_response_id: z.string().min(1).nullish() })
  },
  messages: {
    streams: true,
    injectsUsage: false,
    usage: 'anthropic',
    typedErrorBody: true,
    typedStreamError: true,
    path: '/v1/messages',
    upstreamPath: '/v1/messages',
    maxTokens: (b) => int(b.max_tokens),
    // Anthropic's API requires max_tokens, and so does vLLM's /v1/messages
    schema: z.looseObject({ ...common, messages: z.array(z.unknown()).min(1), max_tokens: z.number().int().positive() })
  },
  rerank: {
    ...oneShot,
    path: '/v1/rerank',
    aliases: ['/rerank', '/v2/rerank'],
    upstreamPath: '/v1/rerank',
    schema: z.looseObject({ ...common, query: required, documents: z.array(z.unknown()).min(1) })
  },
  score: { ...oneShot, path: '/v1/score', aliases: ['/score'], upstreamPath: '/v1/score', schema: z.looseObject({ ...common, text_1: required, text_2: required }) },
  tokenize: {
    ...oneShot,
    path: '/v1/tokenize',
    aliases: ['/tokenize'],
    upstreamPath: '/tokenize',
    schema: z.looseObject({ ...common }).refine((b) => b.prompt != null || Array.isArray(b.messages), { message: 'send "prompt" or "messages"', path: ['prompt'] })
  },
  detokenize: { ...oneShot, path: '/v1/detokenize', aliases: ['/detokenize'], upstreamPath: '/detokenize', schema: z.looseObject({ ...common, tokens: z.array(z.number().int()) }) }
}
