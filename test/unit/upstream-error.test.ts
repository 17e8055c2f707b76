import t from 'tap'
import { normaliseUpstreamError } from '../../src/proxy/upstream-error.js'

t.test('vLLM nested shape (≥ 0.10.1) keeps type, param and numeric code', async (t) => {
  const body = JSON.stringify({ error: { message: 'The model `x` does not exist.', type: 'NotFoundError', param: 'model', code: 404 } })
  t.same(normaliseUpstreamError(404, body), { error: { message: 'The model `x` does not exist.', type: 'NotFoundError', param: 'model', code: 404 } })
})

t.test('vLLM flat shape (older) is wrapped', async (t) => {
  const body = JSON.stringify({ object: 'error', message: 'bad', type: 'BadRequestError', param: null, code: 400 })
  t.same(normaliseUpstreamError(400, body), { error: { message: 'bad', type: 'BadRequestError', param: null, code: 400 } })
})

t.test('FastAPI detail, bare error strings and non-JSON bodies', async (t) => {
  t.same(normaliseUpstreamError(422, '{"detail":[{"loc":["body"],"msg":"field required"}]}').error.message, '[{"loc":["body"],"msg":"field required"}]')
  t.same(normaliseUpstreamError(500, '{"error":"overloaded"}'), { error: { message: 'overloaded', type: 'api_error', param: null, code: null } })
  t.same(normaliseUpstreamError(503, 'Service Unavailable'), { error: { message: 'Service Unavailable', type: 'overloaded_error', param: null, code: null } })
  t.equal(normaliseUpstreamError(502, '').error.message, 'The model server answered HTTP 502.')
  t.equal(normaliseUpstreamError(400, 'x'.repeat(5000)).error.message.length, 2000, 'long bodies are cut')
})
