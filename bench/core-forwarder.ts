import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AbortFlag } from '../src/pipeline/abort-flag.js'
import { UpstreamPools } from '../src/proxy/pools.js'
import { requestWhole } from '../src/proxy/whole-response.js'

// brixgate's forwarding path with every feature taken out: the same node:http body read and the
// same undici dispatch reader (src/proxy/whole-response.ts) and pool the gateway uses, then the
// answer written with its length. What is left between this and brixgate is the features (parse,
// route, limits, usage, metrics, access log, response headers), not the I/O.
const pool = new UpstreamPools().get(new URL(process.argv[2]).host)
const hooks = { onHeaders: () => undefined, onWritten: () => undefined }
const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (c: Buffer) => {
    chunks.push(c)
    size += c.length
  })
  req.on('end', () => {
    const body = Buffer.concat(chunks, size)
    requestWhole(pool, { method: 'POST', path: req.url ?? '/', headers: { 'content-type': 'application/json' }, body }, new AbortFlag(), hooks).then(
      (up) => res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json'), 'content-length': String(up.body.length) }).end(up.body),
      () => res.writeHead(502).end()
    )
  })
})
server.keepAliveTimeout = 5000
server.listen(0, '127.0.0.1', () => console.log(`core forwarder listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`))
process.on('SIGTERM', () => process.exit(0))
