import type { FastifyError, FastifyReply } from 'fastify'
import { GatewayError, errorBody } from '../errors/catalogue.js'

export function sendGatewayError(reply: FastifyReply, err: GatewayError): FastifyReply {
  return reply.code(err.status).headers(err.headers).send(err.body())
}

/** Errors Fastify raises before a handler runs (body too large, bad content type...) → OpenAI envelope. */
export function fastifyErrorToGateway(err: FastifyError, bodyLimit: number): GatewayError | { status: number; body: ReturnType<typeof errorBody> } {
  if (err instanceof GatewayError) return err
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new GatewayError('body_too_large', String(bodyLimit))
  if (err.code?.startsWith('FST_ERR_CTP') || err.statusCode === 400) return new GatewayError('bad_body', err.message)
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  return { status, body: errorBody(status, status === 500 ? 'Internal error.' : err.message, null) }
}
