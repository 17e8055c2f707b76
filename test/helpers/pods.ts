import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A scripted pod: every request's body is read, then `handle` answers it (the n-th request of this pod). */
export interface ScriptedPod {
  address: string
  server: Server
  /** Inference requests received (GET /health and /metrics are not counted). */
  requests: number
  /** Answers GET /health with this status. */
  healthStatus: number
  close(): Promise<void>
}

export type PodHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer, n: number) => void | Promise<void>

export const sseChunk = (content: string) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`

/** A stream of `words`, then usage when asked for, then [DONE]. */
export function answerStream(res: ServerResponse, body: Buffer, words: string[]): void {
  const wantsUsage = JSON.parse(body.toString()).stream_options?.include_usage === true
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream' })
  for (const w of words) res.write(sseChunk(w))
  if (wantsUsage) res.write(`data: ${JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 2, completion_tokens: words.length, total_tokens: 2 + words.length } })}\n\n`)
  res.end('data: [DONE]\n\n')
}

/** A whole chat completion naming the pod that answered. */
export function answerJson(res: ServerResponse, who: string): void {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ id: 'chatcmpl-x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: `from ${who}` }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } }))
}

export async function startPod(handle: PodHandler): Promise<ScriptedPod> {
  const pod: ScriptedPod = { address: '', server: undefined as unknown as Server, requests: 0, healthStatus: 200, close: async () => undefined }
  pod.server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    if (req.method === 'GET') {
      res.writeHead(req.url === '/health' ? pod.healthStatus : 404).end()
      return
    }
    await handle(req, res, Buffer.concat(chunks), pod.requests++)
  })
  await new Promise<void>((r) => pod.server.listen(0, '127.0.0.1', r))
  pod.address = `127.0.0.1:${(pod.server.address() as AddressInfo).port}`
  pod.close = () =>
    new Promise<void>((r) => {
      pod.server.closeAllConnections()
      pod.server.close(() => r())
    })
  return pod
}
