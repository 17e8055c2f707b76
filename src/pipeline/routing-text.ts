/** The text of one message's content: a string, or the text parts of a list of parts (OpenAI, Anthropic, Responses). */
function contentText(c: unknown): string {
  if (typeof c === 'string') return c
  if (!Array.isArray(c)) return ''
  let out = ''
  for (const p of c as { text?: unknown }[]) if (typeof p?.text === 'string') out += p.text
  return out
}

function messagesText(messages: unknown[]): string {
  let out = ''
  for (const m of messages as { content?: unknown }[]) out += `${contentText(m?.content)}\n`
  return out
}

/**
 * The text prefix strategies hash (SPEC §7): for chat, every message's content joined — the whole
 * conversation, not just the first message — for completions the prompt. Anthropic's `system` and
 * the Responses API's `instructions` come first, as the engine's chat template puts them.
 */
export function routingText(body: Record<string, unknown>): string {
  const preamble = typeof body.instructions === 'string' ? `${body.instructions}\n` : body.system !== undefined ? `${contentText(body.system)}\n` : ''
  if (Array.isArray(body.messages)) return preamble + messagesText(body.messages)
  const input = body.input
  if (typeof input === 'string') return preamble + input
  if (Array.isArray(input)) return preamble + (input.every((x) => typeof x === 'string') ? input.join('\n') : messagesText(input))
  const p = body.prompt ?? body.query ?? body.text_1
  if (typeof p === 'string') return p
  if (Array.isArray(p)) return p.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n')
  return ''
}
