import type { RoutingRequest } from '../routing/strategy.js'
import type { ParsedRequest } from './parse.js'
import { routingText } from './routing-text.js'

/** Output tokens assumed for routing when the request sets no max_tokens. */
const DEFAULT_OUTPUT_TOKENS = 128

/** What strategies are told about a parsed request; the routing text is built only if asked for. */
export function routingRequest(parsed: ParsedRequest, headers: RoutingRequest['headers'], user: string | undefined): RoutingRequest {
  let text: string | undefined
  return {
    model: parsed.model,
    body: parsed.body,
    headers,
    user,
    text: () => (text ??= routingText(parsed.body)),
    promptTokens: Math.ceil(parsed.raw.length / 4),
    outputTokens: parsed.maxTokens ?? DEFAULT_OUTPUT_TOKENS
  }
}
