import type { UsageFormat } from '../pipeline/endpoints.js'

/** Token usage in OpenAI's shape, whatever format the answer reported it in. */
export interface Usage {
  prompt_tokens?: number
  completion_tokens?: number
  total_tokens: number
  [k: string]: unknown
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

/** Responses API / Anthropic usage ({input_tokens, output_tokens, ...}) → OpenAI's shape. */
function fromInputOutput(u: Record<string, unknown>, cached: number | undefined): Usage | undefined {
  const input = num(u.input_tokens)
  const output = num(u.output_tokens)
  if (input === undefined && output === undefined) return undefined
  const prompt = input ?? 0
  const completion = output ?? 0
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: num(u.total_tokens) ?? prompt + completion,
    ...(cached !== undefined ? { prompt_tokens_details: { cached_tokens: cached } } : {})
  }
}

function openai(u: unknown): Usage | undefined {
  return isObject(u) && num(u.total_tokens) !== undefined ? (u as Usage) : undefined
}

function responses(u: unknown): Usage | undefined {
  if (!isObject(u)) return undefined
  const details = u.input_tokens_details
  return fromInputOutput(u, isObject(details) ? num(details.cached_tokens) : undefined)
}

function anthropic(u: unknown): Usage | undefined {
  return isObject(u) ? fromInputOutput(u, num(u.cache_read_input_tokens)) : undefined
}

/** The usage of a whole (non-stream) answer. */
export function bodyUsage(format: UsageFormat, json: unknown): Usage | undefined {
  if (!isObject(json)) return undefined
  if (format === 'openai') return openai(json.usage)
  if (format === 'responses') return responses(json.usage)
  return anthropic(json.usage)
}

/**
 * The usage known after one more stream event (`seen`: what earlier events said). OpenAI: the
 * usage chunk. Responses: `response.completed` (or incomplete/failed) carries `response.usage`.
 * Anthropic: `message_start` has the input tokens, each `message_delta` the output so far.
 */
export function eventUsage(format: UsageFormat, json: Record<string, unknown>, seen: Usage | undefined): Usage | undefined {
  if (format === 'openai') return openai(json.usage) ?? seen
  if (format === 'responses') {
    const r = json.response
    return typeof json.type === 'string' && json.type.startsWith('response.') && isObject(r) ? (responses(r.usage) ?? seen) : seen
  }
  if (json.type === 'message_start' && isObject(json.message)) return anthropic(json.message.usage) ?? seen
  if (json.type === 'message_delta' && isObject(json.usage)) {
    const prompt = num(json.usage.input_tokens) ?? seen?.prompt_tokens ?? 0
    const completion = num(json.usage.output_tokens) ?? seen?.completion_tokens ?? 0
    return { ...seen, prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
  }
  return seen
}
