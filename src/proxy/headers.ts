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

const NONE: ReadonlySet<string> = new Set()

/** Header names a `connection` header lists (they are hop-by-hop too). */
function connectionListed(value: unknown): ReadonlySet<string> {
  if (typeof value !== 'string' || value === 'keep-alive' || value === 'close') return NONE
  return new Set(value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))
}

/**
 * Client request headers → pod request headers. Hop-by-hop headers and the client's credentials
 * are dropped; accept-encoding is dropped so the pod answers uncompressed and SSE can be observed.
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, opts: UpstreamHeaderOptions): Record<string, string> {
  const listed = connectionListed(headers.connection)
  const out: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || GATEWAY_ONLY.has(name) || listed.has(name)) continue
    out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  out['x-request-id'] = opts.requestId
  if (opts.upstreamApiKey) out.authorization = `Bearer ${opts.upstreamApiKey}`
  return out
}

/** Pod response headers the client gets: hop-by-hop, framing and the pod's own date/server left out. */
const POD_ONLY = new Set([...HOP_BY_HOP, 'content-encoding', 'date', 'server'])

/**
 * Adds the pod's response headers to the gateway's own (`into`, which win on a clash): hop-by-hop
 * and framing headers are dropped. One pass into the headers the client gets, no copies. `pod` has
 * lower-case names, as undici's parseHeaders gives them whatever case the pod sent.
 */
export function addPodHeaders(into: Record<string, string | string[]>, pod: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionListed(pod.connection)
  for (const name in pod) {
    const value = pod[name]
    if (value === undefined || POD_ONLY.has(name) || listed.has(name) || Object.hasOwn(into, name) || name === '__proto__') continue
    into[name] = value
  }
  return into
}
