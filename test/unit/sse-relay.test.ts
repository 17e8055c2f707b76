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
