import t from 'tap'
import { startGateway } from '../helpers/gateway.js'

// The admin API with the memory store (the Redis store is covered across replicas in redis-limits).
t.test('admin users API: validation, sources, AIBrix endpoints', async (t) => {
  const gw = await startGateway({
    discovery: { static: { models: [{ name: 'm', endpoints: ['127.0.0.1:9'] }] } },
    rateLimit: { users: [{ name: 'from-config', rpm: 5, tpm: 500 }] },
    admin: { token: 'admin-secret-1' }
  })
  t.teardown(gw.close)
  const call = async (method: string, path: string, body?: string | object) => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: 'Bearer admin-secret-1', 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
    })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  }
  t.equal((await fetch(`${gw.url}/admin/users`)).status, 401, 'no token')
  t.match(await call('POST', '/admin/users', '{nope'), { status: 400, json: { error: { type: 'invalid_request_error' } } })
  t.match(await call('POST', '/admin/users', { name: 'bob', rpm: 1.5, tpm: 10 }), { status: 400, json: { error: { message: /rpm/ } } })
  t.match(await call('POST', '/admin/users', { name: 'bob', rpm: 2, tpm: 10, extra: 1 }), { status: 400 })
  t.match(await call('POST', '/CreateUser', { name: 'bob', rpm: 2, tpm: 10 }), { status: 201, json: { name: 'bob' } })
  t.match(await call('PUT', '/admin/users/bob', { rpm: 3, tpm: 10 }), { status: 200, json: { name: 'bob', rpm: 3 } }, 'name may come from the path')
  t.match(await call('PUT', '/admin/users/bob', { name: 'alice', rpm: 3, tpm: 10 }), { status: 400 }, 'conflicting names')
  t.match(await call('PUT', '/admin/users/nobody', { rpm: 3, tpm: 10 }), { status: 404 })
  t.match(await call('POST', '/UpdateUser', { name: 'bob', rpm: 4, tpm: 10 }), { status: 200, json: { rpm: 4 } })
  t.match(await call('POST', '/ReadUser', { name: 'ghost' }), { status: 404, json: { error: { code: 'user_not_found' } } })
  const list = await call('GET', '/admin/users')
  t.same((list.json.data as { name: string; source: string }[]).map((u) => [u.name, u.source]), [['bob', 'store'], ['from-config', 'config']])
  t.match(await call('DELETE', '/admin/users/from-config'), { status: 409, json: { error: { code: 'user_in_config' } } })
  t.match(await call('POST', '/DeleteUser', { name: 'bob' }), { status: 200, json: { deleted: true } })
  t.match(await call('DELETE', '/admin/users/bob'), { status: 404 })
})
