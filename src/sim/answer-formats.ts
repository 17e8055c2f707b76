import { randomBytes } from 'node:crypto'

type Json = Record<string, unknown>

/** The tokens one answer used, as the engine counted them. */
export interface AnswerUsage {
  prompt: number
  completion: number
  cached: number
}

/**
 * How one generation is written in an API's shape: the whole answer, or a stream's events — at
 * once (`open`), with the first token (`first`, after prefill), per token and at the end.
 */
export interface AnswerFormat {
  readonly id: string
  whole(text: string, usage: AnswerUsage): Json
  open(): string
  /** At the first token: the prompt's usage is known (cached tokens included). */
  first(usage: AnswerUsage): string
  token(text: string, last: boolean): string
  close(text: string, usage: AnswerUsage): string
}

const now = () => Math.floor(Date.now() / 1000)
const hex = () => randomBytes(12).toString('hex')
const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
const data = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`

const openaiUsage = (u: AnswerUsage) => ({
  prompt_tokens: u.prompt,
  total_tokens: u.prompt + u.completion,
  completion_tokens: u.completion,
  prompt_tokens_details: { cached_tokens: u.cached }
})

/** vLLM's /v1/chat/completions and /v1/completions (usage chunk only when asked for). */
export function openaiFormat(kind: 'chat' | 'completions', model: string, includeUsage: boolean): AnswerFormat {
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${hex()}`
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion'
  const chunk = (choice: Json) => data({ id, object, created: now(), model, choices: [{ index: 0, ...choice }] })
  return {
    id,
    whole: (text, usage) => ({
      id,
      object: kind === 'chat' ? 'chat.completion' : 'text_completion',
      created: now(),
      model,
      choices: [
        kind === 'chat'
          ? { index: 0, message: { role: 'assistant', content: text, tool_calls: [] }, logprobs: null, finish_reason: 'length', stop_reason: null }
          : { index: 0, text, logprobs: null, finish_reason: 'length', stop_reason: null, prompt_logprobs: null }
      ],
      usage: openaiUsage(usage),
      prompt_logprobs: null
    }),
    open: () => '',
    // like vLLM, the role chunk goes out with the first generated token, after prefill
    first: () => (kind === 'chat' ? chunk({ delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }) : ''),
    token: (token, last) =>
      kind === 'chat'
        ? chunk({ delta: { content: token }, logprobs: null, finish_reason: last ? 'length' : null })
        : chunk({ text: token, logprobs: null, finish_reason: last ? 'length' : null, stop_reason: null }),
    close: (_text, usage) => `${includeUsage ? data({ id, object, created: now(), model, choices: [], usage: openaiUsage(usage) }) : ''}data: [DONE]\n\n`
  }
}

/** vLLM's /v1/responses: a response object, or its event stream (created … completed, no [DONE]). */
export function responsesFormat(model: string, body: Json): AnswerFormat {
  const id = `resp_${hex()}`
  const itemId = `msg_${hex()}`
  const createdAt = now()
  let seq = 0
  const item = (text: string, status: string) => ({ type: 'message', id: itemId, role: 'assistant', status, content: status === 'completed' ? [part(text)] : [] })
  const part = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] })
  const response = (status: string, output: Json[], usage: AnswerUsage | null) => ({
    id,
    object: 'response',
    created_at: createdAt,
    model,
    status,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    previous_response_id: body.previous_response_id ?? null,
    output,
    parallel_tool_calls: true,
    temperature: body.temperature ?? 1,
    top_p: body.top_p ?? 1,
    tool_choice: 'auto',
    tools: [],
    text: { format: { type: 'text' } },
    truncation: 'disabled',
    metadata: {},
    error: null,
    incomplete_details: null,
    usage: usage && {
      input_tokens: usage.prompt,
      input_tokens_details: { cached_tokens: usage.cached },
      output_tokens: usage.completion,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage.prompt + usage.completion
    }
  })
  const ev = (type: string, fields: Json) => event(type, { type, sequence_number: seq++, ...fields })
  const at = { item_id: itemId, output_index: 0, content_index: 0 }
  return {
    id,
    whole: (text, usage) => response('completed', [item(text, 'completed')], usage),
    open: () => ev('response.created', { response: response('in_progress', [], null) }) + ev('response.in_progress', { response: response('in_progress', [], null) }),
    first: () => ev('response.output_item.added', { output_index: 0, item: item('', 'in_progress') }) + ev('response.content_part.added', { ...at, part: part('') }),
    token: (delta) => ev('response.output_text.delta', { ...at, delta, logprobs: [] }),
    close: (text, usage) =>
      ev('response.output_text.done', { ...at, text, logprobs: [] }) +
      ev('response.content_part.done', { ...at, part: part(text) }) +
      ev('response.output_item.done', { output_index: 0, item: item(text, 'completed') }) +
      ev('response.completed', { response: response('completed', [item(text, 'completed')], usage) })
  }
}

/** vLLM's Anthropic-compatible /v1/messages: a message, or message_start … message_stop. */
export function anthropicFormat(model: string): AnswerFormat {
  const id = `msg_${hex()}`
  const message = (text: string | undefined, usage: AnswerUsage, stop: string | null) => ({
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: text === undefined ? [] : [{ type: 'text', text }],
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: usage.prompt, output_tokens: usage.completion, cache_read_input_tokens: usage.cached }
  })
  return {
    id,
    whole: (text, usage) => message(text, usage, 'max_tokens'),
    open: () => '',
    // message_start reports the prompt's tokens
    first: (usage) =>
      event('message_start', { type: 'message_start', message: message(undefined, usage, null) }) +
      event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
      event('ping', { type: 'ping' }),
    token: (text) => event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    close: (_text, usage) =>
      event('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      event('message_delta', { type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: usage.completion } }) +
      event('message_stop', { type: 'message_stop' })
  }
}
