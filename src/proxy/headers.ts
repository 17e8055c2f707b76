import { util } from 'undici'
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

/** Pod response headers the client never gets: hop-by-hop, framing and the pod's own date/server. */
const POD_ONLY = new Set([...HOP_BY_HOP, 'content-encoding', 'date', 'server'])

/** A raw header value as text (latin1, as undici's parseHeaders reads it). */
const text = (value: Buffer | string): string => (typeof value === 'string' ? value : value.toString('latin1'))

/**
 * The pod's raw response headers (undici's name, value, name, value... buffers) → the ones a client
 * may get, by lower-case name; a repeated name gives an array, as undici's parseHeaders does.
 * Hop-by-hop and framing headers, the pod's date and server, and any its `connection` header lists
 * are left out before their values are read: each value turned into a string costs ~1k instructions
 * (node 20), and most of a pod's headers are ones the client never gets.
 */
export function podResponseHeaders(raw: readonly (Buffer | string)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  let listed: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i])
    if (name === 'connection') {
      const names = connectionListed(text(raw[i + 1]))
      if (names !== NONE) (listed ??= []).push(...names)
    }
    if (POD_ONLY.has(name) || name === '__proto__') continue
    const value = text(raw[i + 1])
    const seen = out[name]
    // (a name such as `constructor` finds Object.prototype's: not a header seen before)
    if (seen === undefined || !Object.hasOwn(out, name)) out[name] = value
    else if (typeof seen === 'string') out[name] = [seen, value]
    else seen.push(value)
  }
  if (listed) for (const name of listed) delete out[name]
  return out
}

/**
 * Adds the pod's response headers (as podResponseHeaders leaves them) to the gateway's own (`into`,
 * which win on a clash). One pass into the headers the client gets, no copies.
 */
export function addPodHeaders(into: Record<string, string | string[]>, pod: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  for (const name in pod) {
    const value = pod[name]
    if (value === undefined || Object.hasOwn(into, name)) continue
    into[name] = value
  }
  return into
}
