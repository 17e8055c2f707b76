import { errorTypeForStatus } from '../errors/catalogue.js'

export interface UpstreamErrorBody {
  error: { message: string; type: string; param: unknown; code: unknown }
}

const MAX_MESSAGE = 2000

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v)
}

/**
 * Any error body a pod may send → OpenAI's envelope. Handles vLLM's nested shape
 * (≥ 0.10.1: {error:{message,type,param,code:<int>}}), its older flat shape
 * ({object:"error",message,type,param,code}), FastAPI's {detail}, a bare {error:"..."} and non-JSON.
 * type, param and code are kept as the pod sent them.
 */
export function normaliseUpstreamError(status: number, raw: Buffer | string): UpstreamErrorBody {
  const fallbackType = errorTypeForStatus(status)
  const bodyText = typeof raw === 'string' ? raw : raw.toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(bodyText)
  } catch {
    const message = bodyText.trim().slice(0, MAX_MESSAGE) || `The model server answered HTTP ${status}.`
    return { error: { message, type: fallbackType, param: null, code: null } }
  }
  const e = isObject(parsed) && isObject(parsed.error) ? parsed.error : isObject(parsed) && 'message' in parsed ? parsed : undefined
  if (e) {
    return {
      error: {
        message: text(e.message ?? `The model server answered HTTP ${status}.`).slice(0, MAX_MESSAGE),
        type: typeof e.type === 'string' ? e.type : fallbackType,
        param: e.param ?? null,
        code: e.code ?? null
      }
    }
  }
  const detail = isObject(parsed) ? (parsed.error ?? parsed.detail) : undefined
  const message = detail !== undefined ? text(detail) : bodyText
  return { error: { message: message.slice(0, MAX_MESSAGE), type: fallbackType, param: null, code: null } }
}
