import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SimEngine } from './engine.js'
import { gpuProfile } from './profiles.js'
import { enginePrompt } from './prompt.js'
import { countTokens, embed, outputToken, promptText, promptTokens as promptTokenIds } from './text.js'

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

  async function completion(kind: 'chat' | 'completions', body: Json, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const stream = body.stream === true
    if (!stream && body.stream_options != null) {
      return vllmError(res, 400, 'BadRequestError', 'Stream options can only be defined when `stream=True`.')
    }
    if (kind === 'chat' && !Array.isArray(body.messages)) return vllmError(res, 400, 'BadRequestError', 'Field required: messages', 'messages')
    if (kind === 'completions' && body.prompt == null) return vllmError(res, 400, 'BadRequestError', 'Field required: prompt', 'prompt')
    // a prompt no token could fit in max_model_len is refused before tokenizing it (vLLM checks after; BPE on megabytes is slow)
    if (promptText(body).length > maxModelLen * 32) {
      return vllmError(res, 400, 'BadRequestError', `This model's maximum context length is ${maxModelLen} tokens; the prompt is far longer.`)
    }
    const { tokens, hashes, adapter, seed } = enginePrompt(body, opts.model, loras)
    const promptTokens = tokens.length
    if (promptTokens === 0) return vllmError(res, 400, 'BadRequestError', 'The decoder prompt cannot be empty')
    const requested = (body.max_completion_tokens ?? body.max_tokens) as number | undefined
    const maxTokens = typeof requested === 'number' ? requested : opts.defaultMaxTokens ?? 16
    if (!Number.isInteger(maxTokens) || maxTokens < 1) return vllmError(res, 400, 'BadRequestError', 'max_tokens must be at least 1, got ' + String(maxTokens), 'max_tokens')
    if (promptTokens + maxTokens > maxModelLen) {
      return vllmError(res, 400, 'BadRequestError', `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens + maxTokens} tokens.`)
    }
    if (!engine.fits(promptTokens, maxTokens)) {
      return vllmError(res, 400, 'BadRequestError', `The request needs more KV cache (${promptTokens + maxTokens} tokens) than this engine has.`)
    }
    const model = body.model as string
    const includeUsage = stream && (body.stream_options as Json | undefined)?.include_usage === true
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(16).toString('hex')}`
    let cachedTokens = 0
    const usage = (completionTokens: number) => ({
      prompt_tokens: promptTokens,
      total_tokens: promptTokens + completionTokens,
      completion_tokens: completionTokens,
      prompt_tokens_details: { cached_tokens: cachedTokens }
    })
    const abort = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) abort.abort()
    })
    const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion'
    const chunk = (choice: Json) => `data: ${JSON.stringify({ id, object, created: now(), model, choices: [{ index: 0, ...choice }] })}\n\n`

    if (!stream) {
      let out = ''
      const r = await engine.generate(hashes, promptTokens, maxTokens, abort.signal, { onToken: (i) => (out += outputToken(seed, i)) }, adapter)
      if (r.aborted) return
      cachedTokens = r.cachedTokens
      const choice =
        kind === 'chat'
          ? { index: 0, message: { role: 'assistant', content: out, tool_calls: [] }, logprobs: null, finish_reason: 'length', stop_reason: null }
          : { index: 0, text: out, logprobs: null, finish_reason: 'length', stop_reason: null, prompt_logprobs: null }
      return send(res, 200, { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: now(), model, choices: [choice], usage: usage(maxTokens), prompt_logprobs: null })
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    // like vLLM, the role chunk goes out with the first generated token, after prefill
    const r = await engine.generate(hashes, promptTokens, maxTokens, abort.signal, {
      onFirstToken: () => {
        if (kind === 'chat') res.write(chunk({ delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }))
      },
      onToken: (i) => {
        const last = i === maxTokens - 1
        const finish = last ? 'length' : null
        const token = outputToken(seed, i)
        res.write(kind === 'chat' ? chunk({ delta: { content: token }, logprobs: null, finish_reason: finish }) : chunk({ text: token, logprobs: null, finish_reason: finish, stop_reason: null }))
      }
    }, adapter)
    if (r.aborted) return
    cachedTokens = r.cachedTokens
    if (includeUsage) res.write(`data: ${JSON.stringify({ id, object, created: now(), model, choices: [], usage: usage(maxTokens) })}\n\n`)
    res.end('data: [DONE]\n\n')
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
    const routes: Record<string, 'chat' | 'completions' | 'embeddings' | 'tokenize'> = {
      '/v1/chat/completions': 'chat',
      '/v1/completions': 'completions',
      '/v1/embeddings': 'embeddings',
      '/tokenize': 'tokenize'
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
    if (typeof body.model !== 'string' || !served.has(body.model)) {
      return vllmError(res, 404, 'NotFoundError', `The model \`${String(body.model)}\` does not exist.`, 'model')
    }
    if (opts.stallMs) await new Promise((r) => setTimeout(r, opts.stallMs))
    if (opts.errorRate && Math.random() < opts.errorRate) return vllmError(res, 500, 'InternalServerError', 'Simulated engine failure')
    if (kind === 'embeddings') return embeddings(body, res)
    return completion(kind, body, req, res)
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
