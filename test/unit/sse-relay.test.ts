import t from 'tap'
import { findEventEnd, SseRelay } from '../../src/proxy/sse-relay.js'

const ev = (obj: unknown) => `data: ${JSON.stringify(obj)}\n\n`
const content = (c: string) => ev({ id: 'x', choices: [{ index: 0, delta: { content: c } }] })
const usageOnly = ev({ id: 'x', choices: [], usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } })

/** Feeds `text` in pieces of `size` bytes; returns what the client would receive. */
function feed(relay: SseRelay, text: string, size: number): string {
  const bytes = Buffer.from(text)
  const out: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) out.push(...relay.push(bytes.subarray(i, i + size)))
  out.push(...relay.end())
  return Buffer.concat(out).toString()
}

t.test('findEventEnd handles LF, CRLF and CR terminators', async (t) => {
  t.equal(findEventEnd(Buffer.from('data: a\n\nrest')), 9)
  t.equal(findEventEnd(Buffer.from('data: a\r\n\r\nrest')), 11)
  t.equal(findEventEnd(Buffer.from('data: a\r\rrest')), 9)
  t.equal(findEventEnd(Buffer.from('data: a\n')), -1)
})

t.test('pass-through mode: bytes unchanged in every chunking, usage captured', async (t) => {
  const stream = content('héllo') + content('wörld') + usageOnly + 'data: [DONE]\n\n'
  for (const size of [1, 2, 3, 7, 64, 4096]) {
    const relay = new SseRelay(false)
    t.equal(feed(relay, stream, size), stream, `chunks of ${size}`)
    t.equal(relay.usage?.total_tokens, 5)
    t.ok(relay.sawDone)
  }
})

t.test('strip mode: usage-only event dropped, usage keys removed, other bytes kept', async (t) => {
  const withNullUsage = ev({ id: 'x', choices: [{ index: 0, delta: { content: 'b' } }], usage: null })
  const stream = content('a') + withNullUsage + usageOnly + 'data: [DONE]\n\n'
  for (const size of [1, 5, 4096]) {
    const relay = new SseRelay(true)
    const out = feed(relay, stream, size)
    t.equal(out, content('a') + content('b') + 'data: [DONE]\n\n', `chunks of ${size}`)
    t.equal(relay.usage?.total_tokens, 5, 'usage still captured')
  }
})

t.test('strip mode keeps an unterminated last event', async (t) => {
  const relay = new SseRelay(true)
  t.equal(feed(relay, content('a') + 'data: [DONE]', 3), content('a') + 'data: [DONE]')
})

t.test('in-band error events are observed and passed on', async (t) => {
  const err = ev({ error: { message: 'boom', type: 'InternalServerError', code: 500 } })
  const relay = new SseRelay(false)
  t.equal(feed(relay, content('a') + err, 4), content('a') + err)
  t.match(relay.error, { message: 'boom' })
})

t.test('comments and multi-line data pass through', async (t) => {
  const stream = ': keep-alive\n\ndata: {"a":\ndata: 1}\n\n'
  t.equal(feed(new SseRelay(false), stream, 2), stream)
  t.equal(feed(new SseRelay(true), stream, 2), stream)
})

const named = (type: string, obj: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...obj })}\n\n`

t.test('Anthropic events: usage from message_start (input) and the last message_delta (output), bytes untouched', async (t) => {
  const stream =
    named('message_start', { message: { id: 'msg_1', usage: { input_tokens: 11, output_tokens: 0, cache_read_input_tokens: 4 } } }) +
    named('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'hi' } }) +
    named('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 2 } }) +
    named('message_delta', { delta: {}, usage: { output_tokens: 3 } }) +
    named('message_stop', {})
  for (const size of [1, 5, 4096]) {
    const relay = new SseRelay(false, 'anthropic')
    t.equal(feed(relay, stream, size), stream, `chunks of ${size}`)
    t.same(relay.usage, { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14, prompt_tokens_details: { cached_tokens: 4 } })
  }
  const failed = new SseRelay(false, 'anthropic')
  feed(failed, named('error', { error: { type: 'overloaded_error', message: 'busy' } }), 4096)
  t.ok(failed.firstEventError, 'an opening error event is a failed attempt')
})

t.test('Responses API events: the response id from response.created, usage from response.completed', async (t) => {
  const stream =
    named('response.created', { sequence_number: 0, response: { id: 'resp_abc', usage: null } }) +
    named('response.output_text.delta', { sequence_number: 1, delta: 'x' }) +
    named('response.completed', { sequence_number: 2, response: { id: 'resp_abc', usage: { input_tokens: 7, output_tokens: 1, total_tokens: 8, input_tokens_details: { cached_tokens: 0 } } } })
  const relay = new SseRelay(false, 'responses')
  t.equal(feed(relay, stream, 3), stream)
  t.equal(relay.responseId, 'resp_abc')
  t.same(relay.usage, { prompt_tokens: 7, completion_tokens: 1, total_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } })
  const failed = new SseRelay(false, 'responses')
  feed(failed, named('error', { code: 'server_error', message: 'boom' }), 4096)
  t.ok(failed.firstEventError, 'the Responses error event {"type":"error"} counts as an error')
})
