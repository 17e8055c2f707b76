import { createServer } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import type { PodRegistry } from '../discovery/registry.js'
import { GatewayError } from '../errors/catalogue.js'
import type { Limiter } from '../limits/limiter.js'
import type { Logger } from '../observability/logger.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import type { Authenticator } from '../pipeline/identify.js'
import type { InferencePipeline } from '../pipeline/pipeline.js'
import { endpoints, type Endpoint } from '../pipeline/endpoints.js'
import { requestIdFrom } from '../pipeline/request-id.js'
import { registerAdminRoutes } from './admin-routes.js'
import { REFUSED, clientErrorHandler, fastifyErrorToGateway, limitConnectionsPerClient, sendGatewayError } from './errors.js'
import { ResponseDrain } from './drain.js'
import { drainRequest, inferenceEdge, serveInference } from './inference-edge.js'
import { registerUiRoutes } from './ui-routes.js'
import type { StatusSnapshot } from '../observability/status-snapshot.js'

export interface AppDeps {
  config: Config
  registry: PodRegistry
  pipeline: InferencePipeline
  auth: Authenticator
  limiter: Limiter
  metrics: GatewayMetrics
  logger: Logger
  /** Counts responses still being written (graceful shutdown waits for them). */
  drain: ResponseDrain
  /** The status page's data (GET /ui, GET /admin/status). */
  status: () => StatusSnapshot
  configGeneration: () => number
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { config } = deps
  const bodyTimeout = config.server.bodyTimeoutMs
  let closing = false
  const edgeDeps = { bodyLimit: config.server.bodyLimitBytes, pipeline: deps.pipeline, drain: deps.drain, logger: deps.logger, closing: () => closing }
  const edge = inferenceEdge(edgeDeps)
  const app = Fastify({
    logger: false, // the pipeline logs one line per request itself
    bodyLimit: config.server.bodyLimitBytes,
    clientErrorHandler: clientErrorHandler(bodyTimeout),
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // the inference routes are served by the edge on node:http itself; Fastify gets the rest
    serverFactory: (fastifyHandler) => {
      const server = createServer(
        {
          // time to receive a whole request (headers and body); answers stream as long as they need
          requestTimeout: bodyTimeout,
          headersTimeout: Math.min(60_000, bodyTimeout),
          connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(bodyTimeout / 4))),
          // Node would answer a host-less request itself, outside the envelope
          requireHostHeader: false
        },
        (req, res) => {
          if (!edge(req, res)) fastifyHandler(req, res)
        }
      )
      server.keepAliveTimeout = 72_000 // Fastify's default
      return server
    }
  })
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  if (config.server.maxConnectionsPerClient > 0) {
    limitConnectionsPerClient(app.server, config.server.maxConnectionsPerClient)
    app.addHook('onRequest', async (req) => {
      if ((req.raw.socket as { [REFUSED]?: boolean })[REFUSED]) throw new GatewayError('too_many_connections', String(config.server.maxConnectionsPerClient))
    })
  }

  // Keep request bodies as raw bytes: the pipeline validates them and forwards them unchanged.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  const methodsByPath = new Map<string, string[]>()
  const known = (method: string, path: string) => methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method])

  for (const [endpoint, spec] of Object.entries(endpoints) as [Endpoint, (typeof endpoints)[Endpoint]][]) {
    // inference requests the edge did not take (other content types): Fastify read the body, the edge answers
    const handler = (req: FastifyRequest, reply: FastifyReply) => {
      reply.hijack()
      void serveInference(edgeDeps, endpoint, req.raw, reply.raw, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))
    }
    for (const path of [spec.path, ...(spec.aliases ?? [])]) {
      known('POST', path)
      app.post(path, handler)
    }
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
    deps.registry.synced ? { status: 'ready', configGeneration: deps.configGeneration() } : reply.code(503).send({ status: 'discovery not synced yet', configGeneration: deps.configGeneration() })
  )
  known('GET', '/metrics')
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType)
    return deps.metrics.registry.metrics()
  })

  for (const p of registerUiRoutes(app, { adminToken: config.admin.token, status: deps.status })) known('GET', p)

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

  app.setErrorHandler((err, req, reply) => {
    const mapped = fastifyErrorToGateway(err as Parameters<typeof fastifyErrorToGateway>[0], config.server.bodyLimitBytes)
    if (mapped.kind === 'internal') deps.logger.error({ err }, 'unhandled error')
    if (mapped.kind === 'body_too_large') {
      // Fastify marks the answer `connection: close`, and Node then destroys the socket while the
      // client is still sending: the client gets EPIPE instead of the 413. Read (and drop) the rest
      // instead, bounded, and keep the connection.
      reply.removeHeader('connection')
      drainRequest(req.raw, config.server.bodyLimitBytes * 4)
    }
    return sendGatewayError(reply.header('request-id', requestIdFrom(req.headers['x-request-id'])), mapped)
  })

  return app
}
