import type { RoutingRequest } from '../routing/strategy.js'
import type { ParsedRequest } from './parse.js'
import { routingText } from './routing-text.js'

/** Output tokens assumed for routing when the request sets no max_tokens. */
const DEFAULT_OUTPUT_TOKENS = 128

/** The tokens a request is expected to use before it ran: a prompt estimate (4 bytes a token) and its output limit. */
export function expectedTokens(parsed: ParsedRequest): { prompt: number; output: number } {
  return { prompt: Math.ceil(parsed.raw.length / 4), output: parsed.maxTokens ?? DEFAULT_OUTPUT_TOKENS }
}

/** What strategies are told about a parsed request; the routing text is built only if asked for. */
export function routingRequest(parsed: ParsedRequest, headers: RoutingRequest['headers'], user: string | undefined): RoutingRequest {
  let text: string | undefined
  const expected = expectedTokens(parsed)
  return {
    model: parsed.model,
    body: parsed.body,
    headers,
    user,
    text: () => (text ??= routingText(parsed.body)),
    promptTokens: expected.prompt,
    outputTokens: expected.output
  }
}
