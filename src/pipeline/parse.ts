import { z } from 'zod'
import { GatewayError } from '../errors/catalogue.js'

export type Endpoint = 'chat' | 'completions' | 'embeddings'

export const endpointPaths: Record<Endpoint, string> = {
  chat: '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings'
}

const common = {
  model: z.unknown(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().nonnegative().nullish(),
  max_completion_tokens: z.number().int().nonnegative().nullish()
}

/** Only what the gateway reads is checked; everything else is the engine's business. */
const schemas = {
  chat: z.looseObject({ ...common, messages: z.array(z.unknown()).min(1) }),
  completions: z.looseObject({ ...common, prompt: z.unknown().refine((p) => p !== undefined && p !== null, 'is required') }),
  embeddings: z.looseObject({ ...common, input: z.unknown().refine((p) => p !== undefined && p !== null, 'is required') })
}

export interface ParsedRequest {
  endpoint: Endpoint
  model: string
  body: Record<string, unknown>
  /** The client's bytes; forwarded unchanged unless the gateway must add include_usage. */
  raw: Buffer
  stream: boolean
  /** The client asked for the usage event itself. */
  clientWantsUsage: boolean
  maxTokens: number | undefined
}

export function parseRequest(endpoint: Endpoint, raw: Buffer): ParsedRequest {
  let json: unknown
  try {
    json = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw new GatewayError('bad_body', raw.length === 0 ? 'the body is empty; send a JSON object' : `not valid JSON (${(err as Error).message})`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new GatewayError('bad_body', 'the body must be a JSON object')
  const model = (json as Record<string, unknown>).model
  if (model === undefined || model === null || model === '') throw new GatewayError('no_model', '', { param: 'model' })
  if (typeof model !== 'string') throw new GatewayError('bad_body', '"model" must be a string', { param: 'model' })
  const result = schemas[endpoint].safeParse(json)
  if (!result.success) {
    const issue = result.error.issues[0]
    const path = issue.path.join('.')
    throw new GatewayError('bad_body', `${path || 'body'}: ${issue.message}`, { param: path || undefined })
  }
  const body = result.data as Record<string, unknown> & z.infer<(typeof schemas)['chat']>
  const stream = body.stream === true
  if (stream && endpoint === 'embeddings') throw new GatewayError('stream_not_allowed', '', { param: 'stream' })
  return {
    endpoint,
    model,
    body,
    raw,
    stream,
    clientWantsUsage: body.stream_options?.include_usage === true,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined
  }
}

/**
 * The body sent upstream. For streams that did not ask for usage, include_usage is added so the
 * gateway can count tokens — spliced into the client's bytes when stream_options is absent.
 */
export function upstreamBody(req: ParsedRequest): { body: Buffer; injectedUsage: boolean } {
  if (!req.stream || req.clientWantsUsage) return { body: req.raw, injectedUsage: false }
  if (!('stream_options' in req.body)) {
    const text = req.raw.toString('utf8')
    const close = text.lastIndexOf('}')
    const body = Buffer.from(`${text.slice(0, close)},"stream_options":{"include_usage":true}${text.slice(close)}`)
    return { body, injectedUsage: true }
  }
  const opts = { ...(req.body.stream_options as Record<string, unknown>), include_usage: true }
  return { body: Buffer.from(JSON.stringify({ ...req.body, stream_options: opts })), injectedUsage: true }
}
