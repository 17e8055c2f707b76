/**
 * One table for every error the gateway itself produces: condition → HTTP status,
 * OpenAI error code and the AIBrix debug header. SPEC §4.
 */
export interface CatalogueEntry {
  status: number
  code: string | null
  /** AIBrix debug headers; a value of '$detail' is replaced by the error's detail when it is header-safe. */
  headers?: readonly (readonly [name: string, value: string])[]
  message: (detail: string) => string
  /** Seconds for `retry-after` (errors a client should simply try again later). */
  retryAfter?: number
  /** Failures talking to a pod: flagged `x-error-streaming: true` when the client asked for a stream. */
  upstream?: boolean
}

/** Longest detail quoted in a message or header: a 4 MB model name must not make an 8 MB answer. */
const MAX_DETAIL = 256

export const catalogue = {
  bad_body: { status: 400, code: null, headers: [['x-error-request-body-processing', 'true']], message: (d) => `Invalid request body: ${d}` },
  no_model: { status: 400, code: null, headers: [['x-error-no-model-in-request', 'true']], message: () => 'The request body must name a "model".' },
  stream_not_allowed: { status: 400, code: null, headers: [['x-error-request-body-processing', 'true']], message: () => 'Streaming is not supported for this endpoint.' },
  model_not_found: { status: 404, code: 'model_not_found', headers: [['x-error-no-model-backends', '$detail']], message: (d) => `The model \`${d}\` does not exist.` },
  no_backends: { status: 503, code: null, retryAfter: 1, headers: [['x-error-no-model-backends', 'true'], ['x-error-unavailable-reason', 'no-routable-pod']], message: (d) => `No routable pod serves model \`${d}\` right now.` },
  all_saturated: { status: 503, code: null, retryAfter: 1, headers: [['x-error-unavailable-reason', 'saturated']], message: (d) => `Every pod of model \`${d}\` is at its concurrency limit (upstream.maxInflightPerPod); try again shortly.` },
  queue_full: { status: 503, code: 'queue_full', retryAfter: 1, headers: [['x-error-unavailable-reason', 'queue-full']], message: (d) => `Every pod is full and the admission queue is full: ${d}; try again shortly.` },
  queue_timeout: { status: 503, code: 'queue_timeout', retryAfter: 1, headers: [['x-error-unavailable-reason', 'queue-timeout']], message: (d) => `Every pod stayed full while the request waited in the admission queue (${d}); try again shortly.` },
  queue_shed: { status: 503, code: 'queue_shed', retryAfter: 5, headers: [['x-error-unavailable-reason', 'queue-shed']], message: (d) => `The request was dropped from the admission queue to make room for higher-priority work (${d}).` },
  all_ejected: { status: 503, code: null, retryAfter: 1, headers: [['x-error-no-model-backends', 'true'], ['x-error-unavailable-reason', 'all-ejected']], message: (d) => `Every pod of model \`${d}\` is out of rotation after failures; try again shortly.` },
  invalid_strategy: { status: 400, code: null, headers: [['x-error-invalid-routing-strategy', 'true'], ['x-error-routing', 'true']], message: (d) => `Invalid routing-strategy: ${d}` },
  routing_failed: { status: 503, code: null, headers: [['x-error-routing', 'true']], message: (d) => `The routing strategy could not pick a pod: ${d}` },
  invalid_api_key: { status: 401, code: 'invalid_api_key', message: (d) => d || 'Incorrect or missing API key.' },
  unknown_user: { status: 403, code: null, headers: [['x-error-user', 'true']], message: (d) => `User \`${d}\` is not registered.` },
  user_mismatch: { status: 403, code: null, headers: [['x-error-user', 'true']], message: () => 'The `user` header does not match the API key.' },
  rpm_exceeded: { status: 429, code: 'rate_limit_exceeded', headers: [['x-error-rpm-exceeded', 'true']], message: (d) => `Rate limit reached for requests per minute: ${d}` },
  tpm_exceeded: { status: 429, code: 'rate_limit_exceeded', headers: [['x-error-tpm-exceeded', 'true']], message: (d) => `Rate limit reached for tokens per minute: ${d}` },
  model_rps_exceeded: { status: 429, code: 'rate_limit_exceeded', retryAfter: 1, headers: [['x-error-model-rps-exceeded', 'true']], message: (d) => `Rate limit reached for requests per second on model \`${d}\`.` },
  store_failed: { status: 503, code: null, headers: [['x-error-incr-rpm', 'true'], ['x-error-incr-tpm', 'true']], message: () => 'The rate-limit store is unavailable.' },
  upstream_unmarshal: { status: 502, code: null, upstream: true, headers: [['x-error-response-unmarshal', 'true']], message: () => 'The model server returned a response that is not JSON.' },
  upstream_unreachable: { status: 502, code: null, upstream: true, headers: [['x-error-routing', 'true']], message: (d) => `No pod could be reached: ${d}` },
  upstream_timeout: { status: 504, code: 'timeout', upstream: true, message: (d) => `The model server did not answer in time: ${d}` },
  upstream_error: { status: 502, code: null, upstream: true, headers: [['x-error-response-unknown', 'true']], message: (d) => `The model server failed: ${d}` },
  poison_request: { status: 502, code: 'poison_request', upstream: true, headers: [['x-error-routing', 'true'], ['x-error-poison-request', 'true']], message: (d) => `The connection to two pods was reset while they handled this request; it is not retried again: ${d}` },
  stream_cut: { status: 502, code: 'upstream_error', upstream: true, message: (d) => `The stream from pod ${d} ended abnormally.` },
  shutdown_cut: { status: 503, code: 'gateway_shutdown', message: () => 'The gateway is shutting down and could not finish this stream.' },
  body_timeout: { status: 408, code: 'request_timeout', headers: [['x-error-request-body-processing', 'true']], message: (d) => `The request body was not received within ${d} ms.` },
  bad_http: { status: 400, code: 'bad_request', message: (d) => `Malformed HTTP request: ${d}` },
  headers_too_large: { status: 431, code: 'request_header_fields_too_large', message: () => 'Request headers are too large.' },
  header_timeout: { status: 408, code: 'request_timeout', message: () => 'The request headers were not received in time.' },
  too_many_connections: { status: 429, code: 'too_many_connections', retryAfter: 1, message: (d) => `Too many open connections from this client (limit ${d}).` },
  not_found: { status: 404, code: 'not_found', message: (d) => `Unknown path: ${d}` },
  method_not_allowed: { status: 405, code: 'method_not_allowed', message: (d) => `Method not allowed: ${d}` },
  body_too_large: { status: 413, code: 'request_too_large', headers: [['x-error-request-body-processing', 'true']], message: (d) => `Request body is larger than ${d} bytes.` },
  admin_unauthorized: { status: 401, code: 'invalid_api_key', message: () => 'Admin token missing or wrong.' },
  admin_bad_request: { status: 400, code: null, message: (d) => d },
  admin_user_not_found: { status: 404, code: 'user_not_found', message: (d) => `User \`${d}\` does not exist.` },
  admin_user_exists: { status: 409, code: 'user_exists', message: (d) => `User \`${d}\` already exists.` },
  admin_user_in_config: { status: 409, code: 'user_in_config', message: (d) => `User \`${d}\` is defined in the config file; remove it there.` },
  internal: { status: 500, code: null, message: (d) => `Internal error: ${d}` }
} as const satisfies Record<string, CatalogueEntry>

export type ErrorKind = keyof typeof catalogue

export function errorTypeForStatus(status: number): string {
  if (status === 400 || status === 404) return 'invalid_request_error'
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 429) return 'rate_limit_error'
  if (status === 503) return 'overloaded_error'
  return 'api_error'
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

export function errorBody(status: number, message: string, code: string | null = null, param: string | null = null, type?: string): OpenAIErrorBody {
  return { error: { message, type: type ?? errorTypeForStatus(status), param, code } }
}

/** A detail fit to quote in a message: at most MAX_DETAIL characters. */
function bounded(detail: string): string {
  return detail.length <= MAX_DETAIL ? detail : `${detail.slice(0, MAX_DETAIL)}… (${detail.length} characters)`
}

/** A detail fit for a header value: printable ASCII, bounded; anything else becomes "true" (SPEC §4). */
export function headerSafe(detail: string): string {
  return detail.length > 0 && detail.length <= MAX_DETAIL && /^[\x20-\x7e]*$/.test(detail) ? detail : 'true'
}

export class GatewayError extends Error {
  readonly kind: ErrorKind
  readonly status: number
  readonly code: string | null
  readonly param: string | null
  readonly headers: Record<string, string>

  constructor(kind: ErrorKind, detail = '', opts: { param?: string; headers?: Record<string, string> } = {}) {
    const entry: CatalogueEntry = catalogue[kind]
    super(entry.message(bounded(detail)))
    this.name = 'GatewayError'
    this.kind = kind
    this.status = entry.status
    this.code = entry.code
    this.param = opts.param ?? null
    this.headers = { ...opts.headers }
    for (const [name, value] of entry.headers ?? []) {
      this.headers[name] = value === '$detail' ? headerSafe(detail) : value
    }
    if (entry.retryAfter !== undefined) this.headers['retry-after'] ??= String(entry.retryAfter)
  }

  /**
   * The error envelope. `typed` adds Anthropic's top-level `"type":"error"` (Anthropic clients and
   * the Responses API's error event read it; OpenAI clients read `error` as before).
   */
  body(typed = false): OpenAIErrorBody & { type?: 'error' } {
    const body = errorBody(this.status, this.message, this.code, this.param)
    return typed ? { type: 'error', ...body } : body
  }

  /** Headers for the client, with the streaming flag when a stream request failed at the pod. */
  headersFor(stream: boolean): Record<string, string> {
    return stream && (catalogue[this.kind] as CatalogueEntry).upstream ? { ...this.headers, 'x-error-streaming': 'true' } : this.headers
  }

  /** The error as the one SSE event that ends a stream already under way (SPEC §4); `typed`: a named `error` event (Anthropic, Responses). */
  sseEvent(typed = false): Buffer {
    return Buffer.from(`${typed ? 'event: error\n' : ''}data: ${JSON.stringify(this.body(typed))}\n\n`)
  }
}
