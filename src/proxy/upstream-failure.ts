import { GatewayError } from '../errors/catalogue.js'

/** Errors that mean "could not talk to this pod at all": safe to try another pod. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED'
])

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } }
  if (typeof e?.code === 'string') return e.code
  if (typeof e?.cause?.code === 'string') return e.cause.code
  return undefined
}

export function isConnectFailure(err: unknown): boolean {
  const code = codeOf(err)
  return code !== undefined && CONNECT_CODES.has(code)
}

export function isTimeout(err: unknown): boolean {
  const code = codeOf(err)
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
}

export function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string }
  return e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'ABORT_ERR'
}

/** A pod-side failure as the gateway error the client gets. */
export function upstreamFailure(err: unknown, pod: string): GatewayError {
  const detail = `${pod}: ${codeOf(err) ?? (err as Error)?.message ?? String(err)}`
  return isTimeout(err) ? new GatewayError('upstream_timeout', detail) : new GatewayError('upstream_unreachable', detail)
}
