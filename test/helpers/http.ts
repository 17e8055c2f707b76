import type { Test } from 'tap'

export interface ErrorExpectation {
  status: number
  type: string
  code?: string | null
  headers?: Record<string, string | RegExp>
}

/** Checks status, debug headers and the OpenAI error envelope of a response. */
export async function expectOpenAIError(t: Test, res: Response, want: ErrorExpectation): Promise<Record<string, unknown>> {
  t.equal(res.status, want.status, 'status')
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    if (value instanceof RegExp) t.match(res.headers.get(name), value, `header ${name}`)
    else t.equal(res.headers.get(name), value, `header ${name}`)
  }
  t.match(res.headers.get('content-type'), /application\/json/)
  const body = (await res.json()) as { error: Record<string, unknown> }
  t.type(body.error, 'object', 'OpenAI envelope')
  t.type(body.error.message, 'string')
  t.ok((body.error.message as string).length > 0, 'message is not empty')
  t.equal(body.error.type, want.type, 'error type')
  t.ok('param' in body.error && 'code' in body.error, 'param and code present')
  if (want.code !== undefined) t.equal(body.error.code, want.code, 'error code')
  return body.error
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
}

export const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra })
