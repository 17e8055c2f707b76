import Fastify from 'fastify'
import replyFrom from '@fastify/reply-from'

// The alternative forwarding layer the core issue asks to compare: @fastify/reply-from with its
// default undici pool, doing nothing but forwarding (no parsing, no routing).
const upstream = process.argv[2]
const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
await app.register(replyFrom, { base: upstream, undici: { connections: 128, pipelining: 1 } })
app.post('/v1/chat/completions', (_req, reply) => reply.from('/v1/chat/completions'))
const url = await app.listen({ port: 0, host: '127.0.0.1' })
console.log(`reply-from listening on ${url}`)
