import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SimEngine } from './engine.js'
import { gpuProfile } from './profiles.js'
import { enginePrompt } from './prompt.js'
import { countTokens, detokenize, embed, outputToken, promptText, promptTokens as promptTokenIds, relevance } from './text.js'
import { LRUCache } from 'lru-cache'
import { anthropicFormat, openaiFormat, responsesFormat, type AnswerFormat, type AnswerUsage } from './answer-formats.js'

export interface SimOptions {
  model: string
  loras?: string[]
  gpu?: string
  host?: string
  port?: number
  /** Multiplies all delays (0 = instant answers). */
  timeScale?: number
  prefillMsPerToken?: number
  decodeMsPerToken?: number
  overheadMs?: number
  /** KV cache capacity in tokens (default: the GPU profile's). */
  kvTokens?: number
  maxBatch?: number
  /** LoRA slots (vLLM --max-loras; default: one per adapter in `loras`) and the load time of a non-resident adapter, ms. */
  maxLoras?: number
  loraLoadMs?: number
  /** Output tokens when the request gives no max_tokens. */
  defaultMaxTokens?: number
  maxModelLen?: number
  /** Fault injection: share of requests answered 500, and a delay before anything is sent. */
  errorRate?: number
  stallMs?: number
}

export interface SimServer {
  url: string
  address: string
  engine: SimEngine
  server: Server
  close(): Promise<void>
}

type Json = Record<string, unknown>
type GenerationKind = 'chat' | 'completions' | 'responses' | 'messages'

/** vLLM ≥ 0.10.1 error body: nested, numeric code. */
function vllmError(res: ServerResponse, status: number, type: string, message: string, param: string | null = null): void {
  send(res, status, { error: { message, type, param, code: status } })
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const now = () => Math.floor(Date.now() / 1000)

/** A vLLM-compatible HTTP face on a SimEngine: the backend for tests, the demo and benchmarks. */
export async function startSim(opts: SimOptions): Promise<SimServer> {
  const loras = opts.loras ?? []
  const profile = gpuProfile(opts.gpu ?? 'a100')
  const maxModelLen = opts.maxModelLen ?? 8192
  const engine = new SimEngine(
    {
      model: opts.model,
      profile,
      timeScale: opts.timeScale ?? 1,
      prefillMsPerToken: opts.prefillMsPerToken,
      decodeMsPerToken: opts.decodeMsPerToken,
      overheadMs: opts.overheadMs,
      kvTokens: opts.kvTokens,
      maxBatch: opts.maxBatch,
      maxLoras: opts.maxLoras ?? Math.max(1, loras.length),
      loraLoadMs: opts.loraLoadMs
    }
  )
  const created = now()
  const served = new Set([opts.model, ...loras])

  const models = () => ({
    object: 'list',
    data: [
      { id: opts.model, object: 'model', created, owned_by: 'vllm', root: opts.model, parent: null, max_model_len: maxModelLen, permission: [] },
      ...loras.map((id) => ({ id, object: 'model', created, owned_by: 'vllm', root: `/adapters/${id}`, parent: opts.model, max_model_len: null, permission: [] }))
    ]
  })

  /** Stored Responses API answers (vLLM keeps them in the engine's memory): id → the conversation so far. */
  const storedResponses = new LRUCache<string, Json[]>({ max: 10_000 })

  /**
   * The prompt a generation endpoint runs, as chat messages: Anthropic's `system` first; the
   * Responses API's `instructions`, then the stored conversation it continues, then its `input`
   * (undefined: its previous_response_id is not stored here).
   */
  function conversation(kind: GenerationKind, body: Json): Json | undefined {
    if (kind === 'chat' || kind === 'completions') return body
    const system = kind === 'messages' ? body.system : body.instructions
    const head = system === undefined || system === null ? [] : [{ role: 'system', content: system }]
    if (kind === 'messages') return { model: body.model, messages: [...head, ...(body.messages as Json[])] }
    const previousId = body.previous_response_id
    let history: Json[] = []
    if (typeof previousId === 'string') {
      const stored = storedResponses.get(previousId)
      if (!stored) return undefined
      history = stored
    }
    const input = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? (body.input as Json[]) : []
    return { model: body.model, messages: [...head, ...history, ...input] }
  }

  function answerFormat(kind: GenerationKind, body: Json, model: string, stream: boolean): AnswerFormat {
    if (kind === 'responses') return responsesFormat(model, body)
    if (kind === 'messages') return anthropicFormat(model)
    return openaiFormat(kind, model, stream && (body.stream_options as Json | undefined)?.include_usage === true)
  }

  async function generation(kind: GenerationKind, body: Json, res: ServerResponse): Promise<void> {
    const stream = body.stream === true
    if (!stream && body.stream_options != null && kind !== 'responses') {
      return vllmError(res, 400, 'BadRequestError', 'Stream options can only be defined when `stream=True`.')
    }
    if ((kind === 'chat' || kind === 'messages') && !Array.isArray(body.messages)) return vllmError(res, 400, 'BadRequestError', 'Field required: messages', 'messages')
    if (kind === 'completions' && body.prompt == null) return vllmError(res, 400, 'BadRequestError', 'Field required: prompt', 'prompt')
    if (kind === 'responses' && body.input == null) return vllmError(res, 400, 'BadRequestError', 'Field required: input', 'input')
    const prompted = conversation(kind, body)
    if (!prompted) return vllmError(res, 404, 'invalid_request_error', `Response with id '${String(body.previous_response_id)}' not found.`, 'previous_response_id')
    // a prompt no token could fit in max_model_len is refused before tokenizing it (vLLM checks after; BPE on megabytes is slow)
    if (promptText(prompted).length > maxModelLen * 32) {
      return vllmError(res, 400, 'BadRequestError', `This model's maximum context length is ${maxModelLen} tokens; the prompt is far longer.`)
    }
    const { tokens, hashes, adapter, seed } = enginePrompt(prompted, opts.model, loras)
    const promptTokens = tokens.length
    if (promptTokens === 0) return vllmError(res, 400, 'BadRequestError', 'The decoder prompt cannot be empty')
    const requested = (kind === 'responses' ? body.max_output_tokens : (body.max_completion_tokens ?? body.max_tokens)) as number | undefined
    const maxTokens = typeof requested === 'number' ? requested : opts.defaultMaxTokens ?? 16
    if (!Number.isInteger(maxTokens) || maxTokens < 1) return vllmError(res, 400, 'BadRequestError', 'max_tokens must be at least 1, got ' + String(maxTokens), 'max_tokens')
    if (promptTokens + maxTokens > maxModelLen) {
      return vllmError(res, 400, 'BadRequestError', `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens + maxTokens} tokens.`)
    }
    if (!engine.fits(promptTokens, maxTokens)) {
      return vllmError(res, 400, 'BadRequestError', `The request needs more KV cache (${promptTokens + maxTokens} tokens) than this engine has.`)
    }
    const format = answerFormat(kind, body, body.model as string, stream)
    const usage = (completion: number, cached: number): AnswerUsage => ({ prompt: promptTokens, completion, cached })
    const abort = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) abort.abort()
    })
    let out = ''
    // a Responses answer is stored with its conversation, for the next request's previous_response_id
    const store = () => {
      if (kind === 'responses' && body.store !== false) storedResponses.set(format.id, [...((prompted.messages as Json[]) ?? []), { role: 'assistant', content: out }])
    }
    if (!stream) {
      const r = await engine.generate(hashes, promptTokens, maxTokens, abort.signal, { onToken: (i) => (out += outputToken(seed, i)) }, adapter)
      if (r.aborted) return
      store()
      return send(res, 200, format.whole(out, usage(maxTokens, r.cachedTokens)))
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    const opening = format.open()
    if (opening) res.write(opening)
    const r = await engine.generate(hashes, promptTokens, maxTokens, abort.signal, {
      onFirstToken: (cached) => {
        const first = format.first(usage(0, cached))
        if (first) res.write(first)
      },
      onToken: (i) => {
        const token = outputToken(seed, i)
        out += token
        res.write(format.token(token, i === maxTokens - 1))
      }
    }, adapter)
    if (r.aborted) return
    store()
    res.end(format.close(out, usage(maxTokens, r.cachedTokens)))
  }

  /** /v1/rerank: documents by relevance to the query (shared words, then a hash for ties), best first. */
  function rerank(body: Json, res: ServerResponse): void {
    if (typeof body.query !== 'string') return vllmError(res, 400, 'BadRequestError', 'Field required: query', 'query')
    if (!Array.isArray(body.documents)) return vllmError(res, 400, 'BadRequestError', 'Field required: documents', 'documents')
    const docs = (body.documents as unknown[]).map((d) => (typeof d === 'string' ? d : typeof (d as Json)?.text === 'string' ? ((d as Json).text as string) : JSON.stringify(d)))
    const results = docs.map((text, index) => ({ index, document: { text }, relevance_score: relevance(body.query as string, text) })).sort((a, b) => b.relevance_score - a.relevance_score)
    const topN = typeof body.top_n === 'number' && body.top_n > 0 ? body.top_n : results.length
    const tokens = docs.reduce((n, d) => n + countTokens(body.query as string) + countTokens(d), 0)
    send(res, 200, { id: `rerank-${randomBytes(16).toString('hex')}`, model: body.model, usage: { total_tokens: tokens }, results: results.slice(0, topN) })
  }

  /** /v1/score: text_1 against each text_2 (a cross-encoder's score, simulated). */
  function score(body: Json, res: ServerResponse): void {
    const left = typeof body.text_1 === 'string' ? [body.text_1] : body.text_1
    const right = typeof body.text_2 === 'string' ? [body.text_2] : body.text_2
    if (!Array.isArray(left) || !Array.isArray(right) || left.length === 0 || right.length === 0) return vllmError(res, 400, 'BadRequestError', 'text_1 and text_2 must be strings or lists of strings', 'text_1')
    const pairs = right.map((r, i) => [String(left.length === 1 ? left[0] : left[i]), String(r)] as const)
    const tokens = pairs.reduce((n, [a, b]) => n + countTokens(a) + countTokens(b), 0)
    send(res, 200, {
      id: `score-${randomBytes(16).toString('hex')}`,
      object: 'list',
      created: now(),
      model: body.model,
      data: pairs.map(([a, b], index) => ({ index, object: 'score', score: relevance(a, b) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null }
    })
  }

  function embeddings(body: Json, res: ServerResponse): void {
    if (body.input == null) return vllmError(res, 400, 'BadRequestError', 'Field required: input', 'input')
    const inputs = Array.isArray(body.input) && body.input.every((x) => typeof x === 'string') ? (body.input as string[]) : [promptText(body)]
    const base64 = body.encoding_format === 'base64'
    const data = inputs.map((text, index) => {
      const v = embed(text)
      const embedding = base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v
      return { index, object: 'embedding', embedding }
    })
    const tokens = inputs.reduce((n, t) => n + countTokens(t), 0)
    send(res, 200, { id: `embd-${randomBytes(16).toString('hex')}`, object: 'list', created: now(), model: body.model, data, usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null } })
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/health') return void res.writeHead(200).end()
    if (req.method === 'GET' && path === '/v1/models') return send(res, 200, models())
    if (req.method === 'GET' && path === '/metrics') {
      const text = await engine.metrics.metrics()
      res.writeHead(200, { 'content-type': engine.metrics.contentType })
      return void res.end(text)
    }
    if (req.method === 'POST' && path === '/sim/reset') {
      // not vLLM: lets benchmarks start every run from a cold cache without restarting pods
      engine.reset()
      return void res.writeHead(204).end()
    }
    const routes: Record<string, GenerationKind | 'embeddings' | 'tokenize' | 'detokenize' | 'rerank' | 'score'> = {
      '/v1/chat/completions': 'chat',
      '/v1/completions': 'completions',
      '/v1/responses': 'responses',
      '/v1/messages': 'messages',
      '/v1/embeddings': 'embeddings',
      '/tokenize': 'tokenize',
      '/detokenize': 'detokenize',
      '/rerank': 'rerank',
      '/v1/rerank': 'rerank',
      '/v2/rerank': 'rerank',
      '/score': 'score',
      '/v1/score': 'score'
    }
    const kind = routes[path]
    if (!kind) return vllmError(res, 404, 'NotFoundError', `Not Found: ${path}`)
    if (req.method !== 'POST') return vllmError(res, 405, 'MethodNotAllowed', 'Method Not Allowed')
    let body: Json
    try {
      const parsed: unknown = JSON.parse(await readBody(req))
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
      body = parsed as Json
    } catch {
      return vllmError(res, 400, 'BadRequestError', 'Invalid JSON body')
    }
    if (kind === 'tokenize') {
      const tokens = promptTokenIds(body)
      return send(res, 200, { count: tokens.length, max_model_len: maxModelLen, tokens })
    }
    if (kind === 'detokenize') {
      if (!Array.isArray(body.tokens) || !body.tokens.every((t) => Number.isInteger(t))) return vllmError(res, 400, 'BadRequestError', 'Field required: tokens', 'tokens')
      return send(res, 200, { prompt: detokenize(body.tokens as number[]) })
    }
    if (typeof body.model !== 'string' || !served.has(body.model)) {
      return vllmError(res, 404, 'NotFoundError', `The model \`${String(body.model)}\` does not exist.`, 'model')
    }
    if (opts.stallMs) await new Promise((r) => setTimeout(r, opts.stallMs))
    if (opts.errorRate && Math.random() < opts.errorRate) return vllmError(res, 500, 'InternalServerError', 'Simulated engine failure')
    if (kind === 'embeddings') return embeddings(body, res)
    if (kind === 'rerank') return rerank(body, res)
    if (kind === 'score') return score(body, res)
    return generation(kind, body, res)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) vllmError(res, 500, 'InternalServerError', err.message)
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 5000 // uvicorn's default
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const host = opts.host ?? '127.0.0.1'
  return {
    url: `http://${host}:${port}`,
    address: `${host}:${port}`,
    engine,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
