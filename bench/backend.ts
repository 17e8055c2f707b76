import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

// A fixed-answer "pod": the fastest possible backend, so a benchmark measures the proxy in front.
const answer = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 0,
    model: 'bench',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 }
  })
)

const server = createServer((req, res) => {
  req.on('data', () => undefined)
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length })
    res.end(answer)
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`backend listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
})
