/**
 * The text prefix strategies hash (SPEC §7): for chat, every message's content joined — the whole
 * conversation, not just the first message — for completions the prompt.
 */
export function routingText(body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) {
    let out = ''
    for (const m of body.messages as { content?: unknown }[]) {
      const c = m?.content
      const content = typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('') : ''
      out += `${content}\n`
    }
    return out
  }
  const p = body.prompt
  if (typeof p === 'string') return p
  if (Array.isArray(p)) return p.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n')
  return ''
}
