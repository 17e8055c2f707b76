import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A hand-written misbehaving "vLLM": the model name in the request picks the misbehaviour.
 * Records every request it sees so tests can check what the gateway forwarded.
 */
export interface SeenRequest {
  path: string
  headers: IncomingMessage['headers']
  body: Buffer
  closedEarly: boolean
  closedAt?: number
}

export interface BadBackend {
  address: string
  server: Server
  seen: SeenRequest[]
  close(): Promise<void>
}

const chunk = (content: string, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }], ...extra })}\n\n`

export const SPLIT_STREAM_EVENTS = [chunk('Hel'), chunk('lo, wörld'), chunk('!')]

type Behaviour = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>, seen: SeenRequest) => void | Promise<void>

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const behaviours: Record<string, Behaviour> = {
  /** SSE frames cut mid-line and mid-UTF-8 character, with a usage event when asked. */
  'split-sse': async (_req, res, body) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    let all = SPLIT_STREAM_EVENTS.join('')
    if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) {
      all += `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } })}\n\n`
    }
    all += 'data: [DONE]\n\n'
    const bytes = Buffer.from(all)
    for (let i = 0; i < bytes.length; i += 7) {
      res.write(bytes.subarray(i, i + 7))
      await sleep(1)
    }
    res.end()
  },
  'flat-error': (_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ object: 'error', message: 'flat: bad temperature', type: 'BadRequestError', param: 'temperature', code: 400 }))
  },
  'nested-error': (_req, res) => {
    res.writeHead(422, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: { message: 'nested: bad top_p', type: 'BadRequestError', param: 'top_p', code: 422 } }))
  },
  'text-error': (_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' })
    res.end('upstream exploded')
  },
  'non-json-200': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('<html>not json</html>')
  },
  hang: () => undefined,
  reset: (req) => {
    req.socket.destroy()
  },
  /** A 200 stream that then reports an engine error in-band. */
  'midstream-error': async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(chunk('partial'))
    await sleep(5)
    res.end(`data: ${JSON.stringify({ error: { message: 'engine died', type: 'InternalServerError', param: null, code: 500 } })}\n\n`)
  },
  /** A 200 stream whose connection is cut after one event. */
  'midstream-cut': async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(chunk('partial'))
    await sleep(20)
    res.socket?.destroy()
  },
  /** Streams one event every 20 ms for a long time (for abort tests). */
  'slow-stream': async (_req, res, _body, seen) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (let i = 0; i < 500 && !seen.closedEarly; i++) {
      res.write(chunk(`t${i} `))
      await sleep(20)
    }
    res.end('data: [DONE]\n\n')
  },
  /** Echo: answers JSON describing what it received, with usage. */
  echo: (req, res, body, seen) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-backend-header': 'kept', connection: 'keep-alive, x-drop-me', 'x-drop-me': 'hop' })
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', model: body.model, choices: [], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }, received: { headers: req.headers, bytes: seen.body.length } }))
  }
}

export async function startBadBackend(): Promise<BadBackend> {
  const seen: SeenRequest[] = []
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const record: SeenRequest = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), closedEarly: false }
    seen.push(record)
    res.on('close', () => {
      if (!res.writableFinished) {
        record.closedEarly = true
        record.closedAt = Date.now()
      }
    })
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(record.body.toString('utf8'))
    } catch {
      // leave empty
    }
    const behaviour = behaviours[String(body.model)] ?? behaviours.echo
    await behaviour(req, res, body, record)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    address: `127.0.0.1:${port}`,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      })
  }
}
