import { GatewayError } from '../errors/catalogue.js'

/** The request never reached the pod: always safe to try another pod. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])

/** The connection broke after the request may have been sent: the request itself may be what kills pods. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])

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

export function isReset(err: unknown): boolean {
  const code = codeOf(err)
  return code !== undefined && RESET_CODES.has(code)
}

export function isTimeout(err: unknown): boolean {
  const code = codeOf(err)
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
}

export function isHeadersTimeout(err: unknown): boolean {
  return codeOf(err) === 'UND_ERR_HEADERS_TIMEOUT'
}

export function isAbort(err: unknown): boolean {
  const e = err as { name?: string; code?: string }
  return e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'ABORT_ERR'
}

/** How an attempt on a pod failed before the client got a byte (metric label `cause`). */
export type FailureCause = 'connect' | 'reset' | 'timeout' | 'first_byte_timeout' | 'status_5xx' | 'status_429' | 'error_event' | 'empty_stream'

export function failureCause(err: unknown): FailureCause {
  if (isConnectFailure(err)) return 'connect'
  if (isTimeout(err)) return 'timeout'
  return 'reset'
}

/** A pod-side failure as the gateway error the client gets. */
export function upstreamFailure(err: unknown, pod: string): GatewayError {
  const detail = `${pod}: ${codeOf(err) ?? (err as Error)?.message ?? String(err)}`
  return isTimeout(err) ? new GatewayError('upstream_timeout', detail) : new GatewayError('upstream_unreachable', detail)
}
