/**
 * One table for every error the gateway itself produces: condition → HTTP status,
 * OpenAI error code and the AIBrix debug header. SPEC §4.
 */
export interface CatalogueEntry {
  status: number
  code: string | null
  /** AIBrix debug headers; a value of '$detail' is replaced by the error's detail. */
  headers?: readonly (readonly [name: string, value: string])[]
  message: (detail: string) => string
}

export const catalogue = {
  bad_body: { status: 400, code: null, headers: [['x-error-request-body-processing', 'true']], message: (d) => `Invalid request body: ${d}` },
  no_model: { status: 400, code: null, headers: [['x-error-no-model-in-request', 'true']], message: () => 'The request body must name a "model".' },
  stream_not_allowed: { status: 400, code: null, headers: [['x-error-request-body-processing', 'true']], message: () => 'Streaming is not supported for this endpoint.' },
  model_not_found: { status: 404, code: 'model_not_found', headers: [['x-error-no-model-backends', '$detail']], message: (d) => `The model \`${d}\` does not exist.` },
  no_backends: { status: 503, code: null, headers: [['x-error-no-model-backends', 'true']], message: (d) => `No routable pod serves model \`${d}\` right now.` },
  invalid_strategy: { status: 400, code: null, headers: [['x-error-invalid-routing-strategy', 'true'], ['x-error-routing', 'true']], message: (d) => `Unknown routing strategy: ${d}` },
  routing_failed: { status: 503, code: null, headers: [['x-error-routing', 'true']], message: (d) => `The routing strategy could not pick a pod: ${d}` },
  invalid_api_key: { status: 401, code: 'invalid_api_key', message: (d) => d || 'Incorrect or missing API key.' },
  unknown_user: { status: 403, code: null, headers: [['x-error-user', 'true']], message: (d) => `User \`${d}\` is not registered.` },
  user_mismatch: { status: 403, code: null, headers: [['x-error-user', 'true']], message: () => 'The `user` header does not match the API key.' },
  rpm_exceeded: { status: 429, code: 'rate_limit_exceeded', headers: [['x-error-rpm-exceeded', 'true']], message: (d) => `Rate limit reached for requests per minute: ${d}` },
  tpm_exceeded: { status: 429, code: 'rate_limit_exceeded', headers: [['x-error-tpm-exceeded', 'true']], message: (d) => `Rate limit reached for tokens per minute: ${d}` },
  model_rps_exceeded: { status: 429, code: 'rate_limit_exceeded', headers: [['x-error-model-rps-exceeded', 'true']], message: (d) => `Rate limit reached for requests per second on model \`${d}\`.` },
  store_failed: { status: 503, code: null, message: () => 'The rate-limit store is unavailable.' },
  upstream_unmarshal: { status: 502, code: null, headers: [['x-error-response-unmarshal', 'true']], message: () => 'The model server returned a response that is not JSON.' },
  upstream_unreachable: { status: 502, code: null, headers: [['x-error-routing', 'true']], message: (d) => `No pod could be reached: ${d}` },
  upstream_timeout: { status: 504, code: 'timeout', message: (d) => `The model server did not answer in time: ${d}` },
  not_found: { status: 404, code: 'not_found', message: (d) => `Unknown path: ${d}` },
  method_not_allowed: { status: 405, code: 'method_not_allowed', message: (d) => `Method not allowed: ${d}` },
  body_too_large: { status: 413, code: 'request_too_large', headers: [['x-error-request-body-processing', 'true']], message: (d) => `Request body is larger than ${d} bytes.` },
  admin_unauthorized: { status: 401, code: 'invalid_api_key', message: () => 'Admin token missing or wrong.' },
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

export class GatewayError extends Error {
  readonly kind: ErrorKind
  readonly status: number
  readonly code: string | null
  readonly param: string | null
  readonly headers: Record<string, string>

  constructor(kind: ErrorKind, detail = '', opts: { param?: string; headers?: Record<string, string> } = {}) {
    const entry: CatalogueEntry = catalogue[kind]
    super(entry.message(detail))
    this.name = 'GatewayError'
    this.kind = kind
    this.status = entry.status
    this.code = entry.code
    this.param = opts.param ?? null
    this.headers = { ...opts.headers }
    for (const [name, value] of entry.headers ?? []) {
      this.headers[name] = value === '$detail' ? detail : value
    }
  }

  body(): OpenAIErrorBody {
    return errorBody(this.status, this.message, this.code, this.param)
  }
}
