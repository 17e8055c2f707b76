import { GatewayError } from '../errors/catalogue.js'
import { endpoints, type Endpoint } from './endpoints.js'

export type { Endpoint } from './endpoints.js'

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
  const spec = endpoints[endpoint]
  const result = spec.schema.safeParse(json)
  if (!result.success) {
    const issue = result.error.issues[0]
    const path = issue.path.join('.')
    throw new GatewayError('bad_body', `${path || 'body'}: ${issue.message}`, { param: path || undefined })
  }
  const body = result.data
  const stream = body.stream === true
  if (stream && !spec.streams) throw new GatewayError('stream_not_allowed', '', { param: 'stream' })
  return {
    endpoint,
    model,
    body,
    raw,
    stream,
    clientWantsUsage: (body.stream_options as { include_usage?: unknown } | null | undefined)?.include_usage === true,
    maxTokens: spec.maxTokens(body)
  }
}

/**
 * The body sent upstream. For streams that did not ask for usage, include_usage is added so the
 * gateway can count tokens — always spliced into the client's bytes (never re-serialised: a body
 * nested 100k deep must not overflow the stack, and every other byte stays the client's).
 */
export function upstreamBody(req: ParsedRequest): { body: Buffer; injectedUsage: boolean } {
  if (!req.stream || req.clientWantsUsage || !endpoints[req.endpoint].injectsUsage) return { body: req.raw, injectedUsage: false }
  const text = req.raw.toString('utf8')
  const value = topLevelValue(text, 'stream_options')
  let spliced: string
  if (!value) {
    const close = text.lastIndexOf('}')
    spliced = `${text.slice(0, close)},"stream_options":{"include_usage":true}${text.slice(close)}`
  } else if (text[value.start] !== '{') {
    // null
    spliced = `${text.slice(0, value.start)}{"include_usage":true}${text.slice(value.end)}`
  } else {
    const inner = topLevelValue(text, 'include_usage', value.start)
    spliced = inner
      ? `${text.slice(0, inner.start)}true${text.slice(inner.end)}`
      : `${text.slice(0, value.start + 1)}"include_usage":true${/^\{\s*\}$/.test(text.slice(value.start, value.end)) ? '' : ','}${text.slice(value.start + 1)}`
  }
  return { body: Buffer.from(spliced), injectedUsage: true }
}

/**
 * Where the value of `key` in the JSON object starting at `from` lies (the last occurrence, as
 * JSON.parse keeps it), found by one iterative scan of already-validated JSON: no recursion.
 */
export function topLevelValue(text: string, key: string, from = text.indexOf('{')): { start: number; end: number } | undefined {
  const quoted = JSON.stringify(key)
  let depth = 0
  let found: { start: number; end: number } | undefined
  let valueStart = -1
  let expectKey = false
  for (let i = from; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      let j = i + 1
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      if (depth === 1 && expectKey) {
        const k = text.slice(i, j + 1)
        let colon = j + 1
        while (text[colon] !== ':') colon++
        let v = colon + 1
        while (/\s/.test(text[v])) v++
        if (k === quoted || JSON.parse(k) === key) valueStart = v
        expectKey = false
        i = colon
        continue
      }
      i = j
      continue
    }
    if (c === '{' || c === '[') {
      depth++
      if (depth === 1) expectKey = true
      continue
    }
    if (c === '}' || c === ']') {
      depth--
      if (depth === 1 && valueStart !== -1) {
        found = { start: valueStart, end: i + 1 }
        valueStart = -1
      }
      if (depth === 0) {
        if (valueStart !== -1) found = { start: valueStart, end: scalarEnd(text, valueStart, i) }
        return found
      }
      continue
    }
    if (c === ',' && depth === 1) {
      if (valueStart !== -1) {
        found = { start: valueStart, end: scalarEnd(text, valueStart, i) }
        valueStart = -1
      }
      expectKey = true
    }
  }
  return found
}

/** End of a scalar value (null, true, 42) that starts at `start` and is followed by the separator at `sep`. */
function scalarEnd(text: string, start: number, sep: number): number {
  let end = sep
  while (end > start && /\s/.test(text[end - 1])) end--
  return end
}
