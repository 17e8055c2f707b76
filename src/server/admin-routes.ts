import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { GatewayError } from '../errors/catalogue.js'
import type { Limiter } from '../limits/limiter.js'
import type { UserRecord } from '../limits/types.js'
import { adminTokenCheck } from './admin-auth.js'
import { sendGatewayError } from './errors.js'

const userSchema = z.strictObject({ name: z.string().min(1).max(256), rpm: z.number().int().positive(), tpm: z.number().int().positive() })
const nameSchema = z.strictObject({ name: z.string().min(1).max(256) })

/** The raw request body as JSON (bodies reach routes as bytes). */
function jsonOf(body: unknown): unknown {
  if (!Buffer.isBuffer(body)) return body
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    throw new GatewayError('admin_bad_request', 'The body is not valid JSON.')
  }
}

function parseJson<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(jsonOf(body))
  if (!r.success) {
    const i = r.error.issues[0]
    throw new GatewayError('admin_bad_request', `${i.path.join('.') || 'body'}: ${i.message}`)
  }
  return r.data
}

/**
 * /admin/users (REST) and AIBrix's /CreateUser, /ReadUser, /UpdateUser, /DeleteUser, guarded by
 * `Authorization: Bearer <admin.token>`. Users written here live in the limit store, so with Redis
 * every replica sees them on its next request.
 */
export function registerAdminRoutes(app: FastifyInstance, token: string, limiter: Limiter): void {
  const authorized = adminTokenCheck(token)
  const guard = async (req: FastifyRequest) => {
    if (!authorized(req.headers.authorization)) throw new GatewayError('admin_unauthorized')
  }
  const store = limiter.store

  const find = async (name: string): Promise<(UserRecord & { source: string }) | undefined> => {
    const stored = await store.getUser(name)
    if (stored) return { ...stored, source: 'store' }
    const cfg = limiter.configUser(name)
    return cfg && { name, ...cfg, source: 'config' }
  }
  const notFound = (reply: FastifyReply, name: string) => sendGatewayError(reply, new GatewayError('admin_user_not_found', name, { param: 'name' }))

  const create = async (req: FastifyRequest, reply: FastifyReply) => {
    const user = parseJson(userSchema, req.body)
    if (await find(user.name)) return sendGatewayError(reply, new GatewayError('admin_user_exists', user.name, { param: 'name' }))
    await store.putUser(user)
    return reply.code(201).send(user)
  }
  const read = async (name: string, reply: FastifyReply) => {
    const user = await find(name)
    return user ? reply.send(user) : notFound(reply, name)
  }
  const update = async (name: string, body: unknown, reply: FastifyReply) => {
    const json = jsonOf(body)
    // PUT /admin/users/:name may leave the name out of the body
    const user = parseJson(userSchema, json && typeof json === 'object' && !('name' in json) ? { name, ...json } : json)
    if (user.name !== name) throw new GatewayError('admin_bad_request', 'name in the body differs from the path')
    if (!(await find(name))) return notFound(reply, name)
    await store.putUser(user)
    return reply.send(user)
  }
  const remove = async (name: string, reply: FastifyReply) => {
    if (await store.deleteUser(name)) return reply.send({ name, deleted: true })
    if (limiter.configUser(name)) {
      return sendGatewayError(reply, new GatewayError('admin_user_in_config', name, { param: 'name' }))
    }
    return notFound(reply, name)
  }

  app.register(async (admin) => {
    admin.addHook('onRequest', guard)
    admin.setErrorHandler((err, _req, reply) => {
      if (err instanceof GatewayError) return sendGatewayError(reply, err)
      return sendGatewayError(reply, new GatewayError('store_failed'))
    })
    admin.post('/admin/users', create)
    admin.get('/admin/users', async () => {
      const stored = await store.listUsers()
      const names = new Set(stored.map((u) => u.name))
      const fromConfig = [...limiterConfigUsers(limiter)].filter((u) => !names.has(u.name)).map((u) => ({ ...u, source: 'config' }))
      const data = [...stored.map((u) => ({ ...u, source: 'store' })), ...fromConfig].sort((a, b) => a.name.localeCompare(b.name))
      return { object: 'list', data }
    })
    admin.get<{ Params: { name: string } }>('/admin/users/:name', (req, reply) => read(req.params.name, reply))
    admin.put<{ Params: { name: string } }>('/admin/users/:name', (req, reply) => update(req.params.name, req.body, reply))
    admin.delete<{ Params: { name: string } }>('/admin/users/:name', (req, reply) => remove(req.params.name, reply))
    // AIBrix's metadata-service user API
    admin.post('/CreateUser', create)
    admin.post('/ReadUser', (req, reply) => read(parseJson(nameSchema, req.body).name, reply))
    admin.post('/UpdateUser', (req, reply) => {
      const user = parseJson(userSchema, req.body)
      return update(user.name, user, reply)
    })
    admin.post('/DeleteUser', (req, reply) => remove(parseJson(nameSchema, req.body).name, reply))
  })
}

function* limiterConfigUsers(limiter: Limiter): Iterable<UserRecord> {
  for (const name of limiter.configUserNames()) {
    const l = limiter.configUser(name)
    if (l) yield { name, ...l }
  }
}
