import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'

// The physical limit of this stack: a bare Node http server that forwards every request to one
// backend through an undici keep-alive pool, and copies the answer back. Nothing else.
const pool = new Pool(process.argv[2], { connections: 128 })
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  try {
    const up = await pool.request({ method: 'POST', path: req.url ?? '/', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') })
    for await (const c of up.body) res.write(c)
    res.end()
  } catch {
    res.writeHead(502).end()
  }
})
server.keepAliveTimeout = 5000
server.listen(0, '127.0.0.1', () => console.log(`undici forwarder listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`))
process.on('SIGTERM', () => process.exit(0))
