import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import type { PodRegistry } from '../discovery/registry.js'
import { GatewayError } from '../errors/catalogue.js'
import type { Limiter } from '../limits/limiter.js'
import type { Logger } from '../observability/logger.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import type { Authenticator } from '../pipeline/identify.js'
import type { InferencePipeline } from '../pipeline/handle.js'
import { endpointPaths, type Endpoint } from '../pipeline/parse.js'
import { requestIdFrom } from '../pipeline/request-id.js'
import { registerAdminRoutes } from './admin-routes.js'
import { fastifyErrorToGateway, sendGatewayError } from './errors.js'

export interface AppDeps {
  config: Config
  registry: PodRegistry
  pipeline: InferencePipeline
  auth: Authenticator
  limiter: Limiter
  metrics: GatewayMetrics
  logger: Logger
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config } = deps
  const app = Fastify({
    logger: false, // the pipeline logs one line per request itself
    bodyLimit: config.server.bodyLimitBytes,
    requestTimeout: 0,
    return503OnClosing: false,
    forceCloseConnections: 'idle'
  })

  // Keep request bodies as raw bytes: the pipeline validates them and forwards them unchanged.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  const methodsByPath = new Map<string, string[]>()
  const known = (method: string, path: string) => methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method])

  for (const [endpoint, path] of Object.entries(endpointPaths) as [Endpoint, string][]) {
    known('POST', path)
    app.post(path, async (req, reply) => {
      await deps.pipeline.handle(endpoint, req, reply)
      return reply
    })
  }

  known('GET', '/v1/models')
  app.get('/v1/models', async (req, reply) => {
    reply.header('request-id', requestIdFrom(req.headers['x-request-id']))
    deps.auth.identify(req.headers)
    const data = deps.registry.routableModels().map((m) => ({
      id: m.id,
      object: 'model',
      created: m.created,
      owned_by: 'brixgate',
      ...(m.parent ? { parent: m.parent } : {})
    }))
    return { object: 'list', data }
  })

  known('GET', '/healthz')
  app.get('/healthz', async () => ({ status: 'ok' }))
  known('GET', '/readyz')
  app.get('/readyz', async (_req, reply) =>
    deps.registry.synced ? { status: 'ready' } : reply.code(503).send({ status: 'discovery not synced yet' })
  )
  known('GET', '/metrics')
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })

  if (config.admin.token) {
    registerAdminRoutes(app, config.admin.token, deps.limiter)
    known('GET', '/admin/users')
    for (const p of ['/admin/users', '/CreateUser', '/ReadUser', '/UpdateUser', '/DeleteUser']) known('POST', p)
  }

  app.setNotFoundHandler((req: FastifyRequest, reply) => {
    const path = req.url.split('?')[0]
    const allowed = methodsByPath.get(path)
    if (allowed && !allowed.includes(req.method)) {
      return sendGatewayError(reply.header('allow', allowed.join(', ')), new GatewayError('method_not_allowed', `${req.method} ${path}`))
    }
    return sendGatewayError(reply, new GatewayError('not_found', `${req.method} ${path}`))
  })

  app.setErrorHandler((err, _req, reply) => {
    const mapped = fastifyErrorToGateway(err as Parameters<typeof fastifyErrorToGateway>[0], config.server.bodyLimitBytes)
    if (mapped instanceof GatewayError) return sendGatewayError(reply, mapped)
    if (mapped.status >= 500) deps.logger.error({ err }, 'unhandled error')
    return reply.code(mapped.status).send(mapped.body)
  })

  return app
}
