import type { IncomingHttpHeaders } from 'node:http'

/** RFC 9110 §7.6.1 connection-specific headers, plus ones the gateway sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'http2-settings'
])

/** Headers the client sends to the gateway that must not reach the pod. */
const GATEWAY_ONLY = new Set(['authorization', 'x-api-key', 'x-request-id', 'accept-encoding'])

export interface UpstreamHeaderOptions {
  requestId: string
  upstreamApiKey?: string
}

function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const v = headers.connection
  if (typeof v !== 'string') return new Set()
  return new Set(v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))
}

/**
 * Client request headers → pod request headers. Hop-by-hop headers and the client's credentials
 * are dropped; accept-encoding is dropped so the pod answers uncompressed and SSE can be observed.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, opts: UpstreamHeaderOptions): Record<string, string> {
  const listed = connectionListed(headers)
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || GATEWAY_ONLY.has(name) || listed.has(name)) continue
    out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  out['x-request-id'] = opts.requestId
  if (opts.upstreamApiKey) out.authorization = `Bearer ${opts.upstreamApiKey}`
  return out
}

/** Pod response headers → client response headers (hop-by-hop and framing headers dropped). */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = typeof headers.connection === 'string' ? new Set(headers.connection.split(',').map((s) => s.trim().toLowerCase())) : new Set<string>()
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase()
    if (value === undefined || HOP_BY_HOP.has(lower) || listed.has(lower) || lower === 'content-encoding' || lower === 'date' || lower === 'server') continue
    out[lower] = value
  }
  return out
}
