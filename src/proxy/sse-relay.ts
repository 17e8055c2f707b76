import { createParser, type EventSourceParser } from 'eventsource-parser'
import type { UsageFormat } from '../pipeline/endpoints.js'
import { eventUsage, type Usage } from './usage.js'

export type { Usage } from './usage.js'

const LF = 0x0a
const CR = 0x0d

/** Index just past the first blank line (event terminator) at or after `from`, or -1. */
export function findEventEnd(buf: Buffer, from = 0): number {
  for (let i = from; i < buf.length; i++) {
    const c = buf[i]
    if (c === LF && buf[i + 1] === LF) return i + 2
    if (c === CR) {
      if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i + 4
      if (buf[i + 1] === CR) return i + 2
    }
  }
  return -1
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Observes an SSE stream from a pod on its way to the client.
 *
 * - Pass-through mode: every byte goes out as it came, in the same chunks; a stateful parser
 *   watches events across chunk boundaries to capture `usage` and error events.
 * - Strip mode (the gateway added `stream_options.include_usage`): output is cut at event
 *   boundaries; the usage-only final event is dropped and `usage` keys removed, so the client
 *   sees what the engine would have sent it. Events without "usage" keep their original bytes.
 */
export class SseRelay {
  usage: Usage | undefined
  /** The first in-band error event the pod sent, if any. */
  error: unknown
  sawDone = false
  events = 0
  /** The pod's first event was an error: nothing real was answered (failover may try another pod). */
  firstEventError = false
  /** The Responses API's id of this answer (from response.created), for previous_response_id. */
  responseId: string | undefined
  private readonly parser: EventSourceParser
  private readonly decoder = new TextDecoder()
  private pending: Buffer = Buffer.alloc(0)
  private current: string[] = []

  constructor(
    private readonly strip: boolean,
    private readonly format: UsageFormat = 'openai'
  ) {
    this.parser = createParser({ onEvent: (ev) => this.current.push(ev.data) })
  }

  /** Feeds one chunk from the pod; returns what to send to the client now. */
  push(chunk: Buffer): Buffer[] {
    if (!this.strip) {
      this.observe(this.decoder.decode(chunk, { stream: true }))
      return [chunk]
    }
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk
    const out: Buffer[] = []
    let start = 0
    for (let end = findEventEnd(buf, start); end !== -1; end = findEventEnd(buf, start)) {
      const kept = this.rewrite(buf.subarray(start, end))
      if (kept) out.push(kept)
      start = end
    }
    this.pending = start === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(start))
    return out
  }

  /** The stream ended; returns bytes still held (an unterminated last event). */
  end(): Buffer[] {
    if (!this.strip) {
      this.observe(this.decoder.decode() + '\n\n')
      return []
    }
    const rest = this.pending
    this.pending = Buffer.alloc(0)
    if (rest.length === 0) return []
    const kept = this.rewrite(rest, true)
    return kept ? [kept] : []
  }

  /** Feeds text to the parser; returns the data of the events it completed. */
  private parse(text: string): string[] {
    this.parser.feed(text)
    const datas = this.current
    this.current = []
    return datas
  }

  private observe(text: string): void {
    for (const data of this.parse(text)) this.inspect(data)
  }

  private inspect(data: string): Record<string, unknown> | undefined {
    this.events += 1
    if (data === '[DONE]') {
      this.sawDone = true
      return undefined
    }
    const created = this.format === 'responses' && this.responseId === undefined && data.includes('"response.created"')
    if (!created && !data.includes('"usage"') && !data.includes('"error"')) return undefined
    let json: unknown
    try {
      json = JSON.parse(data)
    } catch {
      return undefined
    }
    if (!isObject(json)) return undefined
    this.usage = eventUsage(this.format, json, this.usage)
    if (created && json.type === 'response.created' && isObject(json.response) && typeof json.response.id === 'string') this.responseId = json.response.id
    // OpenAI and Anthropic nest the error; the Responses API's error event is {"type":"error",code,message}
    const error = json.error ?? (json.type === 'error' ? json : undefined)
    if (error !== undefined && this.error === undefined) {
      this.error = error
      if (this.events === 1) this.firstEventError = true
    }
    return json
  }

  private rewrite(raw: Buffer, unterminated = false): Buffer | undefined {
    const text = raw.toString('utf8')
    const datas = this.parse(unterminated ? text + '\n\n' : text)
    if (datas.length !== 1 || !text.includes('"usage"')) {
      for (const d of datas) this.inspect(d)
      return raw
    }
    const json = this.inspect(datas[0])
    if (!json || !('usage' in json)) return raw
    if (Array.isArray(json.choices) && json.choices.length === 0) return undefined
    delete json.usage
    return Buffer.from(`data: ${JSON.stringify(json)}\n\n`)
  }
}
