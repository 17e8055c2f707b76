import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply } from 'fastify'
import { GatewayError } from '../errors/catalogue.js'

export function sendGatewayError(reply: FastifyReply, err: GatewayError): FastifyReply {
  return reply.code(err.status).headers(err.headers).send(err.body())
}

/** Errors Fastify raises before a handler runs (body too large, bad content type...) → a catalogue entry. */
export function fastifyErrorToGateway(err: FastifyError, bodyLimit: number): GatewayError {
  if (err instanceof GatewayError) return err
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new GatewayError('body_too_large', String(bodyLimit))
  if (err.code?.startsWith('FST_ERR_CTP') || err.statusCode === 400) return new GatewayError('bad_body', err.message)
  if (err.code === 'FST_ERR_REQ_TIMEOUT' || err.statusCode === 408) return new GatewayError('header_timeout')
  return new GatewayError('internal', err.message)
}

/** A complete HTTP/1.1 answer written straight to a socket (no request object exists yet). */
export function rawErrorResponse(err: GatewayError): string {
  const body = JSON.stringify(err.body())
  const headers = Object.entries(err.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return `HTTP/1.1 ${err.status} ${err.body().error.type}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${headers}connection: close\r\n\r\n${body}`
}

/** Node's own parse errors and timeouts (bad bytes, huge headers, slow clients) in the OpenAI envelope. */
export function clientErrorHandler(bodyTimeoutMs: number): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    let gwErr: GatewayError
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // a request whose headers arrived is waiting for its body; otherwise the headers never finished
      const waitingForBody = (socket as Socket & { _httpMessage?: unknown; parser?: { incoming?: unknown } }).parser?.incoming !== undefined
      gwErr = waitingForBody ? new GatewayError('body_timeout', String(bodyTimeoutMs)) : new GatewayError('header_timeout')
    } else if (err.code === 'HPE_HEADER_OVERFLOW') gwErr = new GatewayError('headers_too_large')
    else gwErr = new GatewayError('bad_http', err.code ?? 'parse error')
    if (socket.writable) socket.end(rawErrorResponse(gwErr))
    socket.destroySoon()
  }
}

/** Marks sockets refused by the per-client connection limit: nothing read from them is served. */
export const REFUSED = Symbol('brixgate.refused')

/** Refuses a client address's connections past `max` open ones with a 429 in the envelope. */
export function limitConnectionsPerClient(server: Server, max: number): void {
  const open = new Map<string, number>()
  server.prependListener('connection', (socket: Socket & { [REFUSED]?: boolean }) => {
    const who = socket.remoteAddress ?? ''
    const n = (open.get(who) ?? 0) + 1
    if (n > max) {
      socket[REFUSED] = true
      socket.end(rawErrorResponse(new GatewayError('too_many_connections', String(max))), () => socket.destroy())
      return
    }
    open.set(who, n)
    socket.once('close', () => {
      const left = (open.get(who) ?? 1) - 1
      if (left <= 0) open.delete(who)
      else open.set(who, left)
    })
  })
}
