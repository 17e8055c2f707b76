import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline as pipeStreams, type Readable } from 'node:stream'
import { GatewayError } from '../errors/catalogue.js'
import type { Logger } from '../observability/logger.js'
import { endpoints, type Endpoint } from '../pipeline/endpoints.js'
import type { PipelineResponse } from '../pipeline/context.js'
import type { InferencePipeline } from '../pipeline/pipeline.js'
import { requestIdFrom } from '../pipeline/request-id.js'
import type { ResponseDrain } from './drain.js'
import { REFUSED } from './errors.js'

export interface InferenceEdgeDeps {
  /** server.bodyLimitBytes (restart-only). */
  bodyLimit: number
  pipeline: InferencePipeline
  drain: ResponseDrain
  logger: Logger
  /** The gateway is shutting down: answers ask clients not to reuse the connection. */
  closing: () => boolean
}

/** Every inference path (and alias) → its endpoint. */
const inferencePaths = new Map<string, Endpoint>()
for (const [endpoint, spec] of Object.entries(endpoints) as [Endpoint, (typeof endpoints)[Endpoint]][]) {
  for (const path of [spec.path, ...(spec.aliases ?? [])]) inferencePaths.set(path, endpoint)
}

/** The inference endpoint a request names (POST, query string ignored), or undefined. */
export function inferenceEndpoint(method: string | undefined, url: string | undefined): Endpoint | undefined {
  if (method !== 'POST' || url === undefined) return undefined
  const q = url.indexOf('?')
  return inferencePaths.get(q < 0 ? url : url.slice(0, q))
}

/** Bodies the edge reads itself: JSON, or no content type. Anything else goes the long way (Fastify's checks and 415s). */
const plainBody = (contentType: string | undefined) => contentType === undefined || contentType.startsWith('application/json')

/**
 * The inference routes on node:http directly: bytes and headers to the pipeline, its answer back.
 * This is the hot path, so it skips Fastify's routing, hooks and reply objects; every other route
 * (and any inference request it does not take) goes to Fastify. It keeps what Fastify did here:
 * the body limit (413, the rest of the upload read and dropped), `connection: close` while
 * shutting down, and a stream's errors ending the response.
 */
export function inferenceEdge(deps: InferenceEdgeDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const endpoint = inferenceEndpoint(req.method, req.url)
    if (endpoint === undefined || !plainBody(req.headers['content-type']) || (req.socket as { [REFUSED]?: boolean })[REFUSED]) return false
    readBody(req, deps.bodyLimit, (err, body) => {
      if (err) return writeError(res, req, err, deps.closing())
      void serveInference(deps, endpoint, req, res, body!)
    })
    return true
  }
}

/** One inference request whose body has been read: the pipeline runs it and its answer is written to `res`. */
export async function serveInference(deps: InferenceEdgeDeps, endpoint: Endpoint, req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const ctx = deps.pipeline.context({ endpoint, headers: req.headers })
  deps.drain.opened()
  // 'close' comes once (a response closes once), when the last byte is handed to the socket or
  // when the client went away; `on` rather than `once` saves a wrapper per request
  res.on('close', () => {
    if (!res.writableFinished) ctx.abort.abort()
    deps.drain.closed()
  })
  let answer: PipelineResponse
  try {
    answer = await deps.pipeline.run(ctx, body)
  } catch (err) {
    deps.logger.error({ err, requestId: ctx.id }, 'unexpected error')
    return writeError(res, req, new GatewayError('internal', (err as Error)?.message ?? String(err)), deps.closing())
  }
  write(res, answer, deps.closing(), deps.logger)
}

function write(res: ServerResponse, answer: PipelineResponse, closing: boolean, logger: Logger): void {
  const { headers, body } = answer
  if (res.destroyed) {
    if (!Buffer.isBuffer(body)) (body as Readable).destroy()
    return
  }
  try {
    if (closing) headers.connection = 'close'
    if (Buffer.isBuffer(body)) {
      headers['content-length'] = String(body.length)
      headers['content-type'] ??= 'application/octet-stream'
      res.writeHead(answer.status, headers).end(body)
      return
    }
    res.writeHead(answer.status, headers)
  } catch (err) {
    // a header value Node refuses: the request is answered, never dropped
    logger.error({ err }, 'could not write response headers')
    if (!Buffer.isBuffer(body)) (body as Readable).destroy()
    res.removeHeader('content-length')
    return writeError(res, undefined, new GatewayError('internal', 'invalid response header'), closing)
  }
  // a stream error after the headers went out ends the response; the client going away ends the stream
  pipeStreams(body as Readable, res, () => undefined)
}

function writeError(res: ServerResponse, req: IncomingMessage | undefined, err: GatewayError, closing: boolean): void {
  if (res.headersSent || res.destroyed) return
  const body = Buffer.from(JSON.stringify(err.body()))
  const headers: Record<string, string> = { ...err.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) }
  if (req) headers['request-id'] = requestIdFrom(req.headers['x-request-id'])
  if (closing) headers.connection = 'close'
  res.writeHead(err.status, headers).end(body)
}

/**
 * The whole body, or body_too_large past `limit` — then the rest of the upload is read and
 * dropped (bounded), so the client, still sending, reads the 413 instead of a reset.
 */
function readBody(req: IncomingMessage, limit: number, done: (err: GatewayError | undefined, body?: Buffer) => void): void {
  const tooLarge = () => {
    drainRequest(req, limit * 4)
    done(new GatewayError('body_too_large', String(limit)))
  }
  if (Number(req.headers['content-length']) > limit) return tooLarge()
  const chunks: Buffer[] = []
  let received = 0
  // `finished` rather than removing the listeners on the way out, however the read ends: a request
  // that ended is dropped with them, and a late 'error' (a reset while the rest is drained) still
  // has a listener
  let finished = false
  const onData = (chunk: Buffer) => {
    if (finished) return
    received += chunk.length
    if (received > limit) {
      finished = true
      return tooLarge()
    }
    chunks.push(chunk)
  }
  const onEnd = () => {
    if (finished) return
    finished = true
    // node hands each chunk over as its own copy (not a view of the socket's read buffer), so a
    // body of one chunk is kept as it is; it outlives the read (it is resent on failover)
    done(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received))
  }
  const onError = (err: Error) => {
    if (finished) return
    finished = true
    done(new GatewayError('bad_body', err.message))
  }
  req.on('data', onData)
  req.on('end', onEnd)
  req.on('error', onError)
}

/** Reads and drops up to `maxBytes` of a request body nobody will use, then stops reading. */
export function drainRequest(req: NodeJS.ReadableStream & { destroy(): void }, maxBytes: number): void {
  let seen = 0
  req.on('data', (c: Buffer) => {
    seen += c.length
    if (seen > maxBytes) req.destroy()
  })
  req.resume()
}
