/**
 * npm run bench:streams — the gateway under many streams and large prompts (issue-16 probes).
 *
 * (a) 2,000 concurrent streams through one gateway (a child process, the built CLI): every stream
 *     complete and byte-identical to the pod's, the gateway's peak RSS sampled from /proc.
 * (b) 220 KB prompts at concurrency 150, sent directly to the pod and through the gateway with
 *     `random` and `prefix-cache`, same run: the gateway's added p50.
 * The pod is an in-process HTTP server; all traffic stays on loopback.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { fmt, startChild } from './lib.js'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const STREAMS = 2000
const EVENTS = 20
const event = (i: number) => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":"token ${i} "},"finish_reason":null}]}\n\n`
const streamBytes = Array.from({ length: EVENTS }, (_, i) => event(i)).join('') + 'data: [DONE]\n\n'
const answer = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'bench', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })

async function startPod(): Promise<{ url: string; close: () => void }> {
  const server = createServer(async (req, res) => {
    let stream = false
    let size = 0
    for await (const c of req) size += (c as Buffer).length
    stream = size < 4096 && req.headers['x-bench-stream'] === '1'
    if (!stream) return res.writeHead(200, { 'content-type': 'application/json' }).end(answer)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (let i = 0; i < EVENTS; i++) {
      res.write(event(i))
      await new Promise((r) => setTimeout(r, 50))
    }
    res.end('data: [DONE]\n\n')
  })
  server.keepAliveTimeout = 5000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

async function streams(gateway: string, pid: number): Promise<{ ok: number; identical: number; peakMb: number; seconds: number }> {
  const pool = new Pool(gateway, { connections: STREAMS, pipelining: 0 })
  // the client asks for usage itself: the gateway relays the pod's bytes untouched
  const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })
  let peakMb = rssMb(pid)
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, rssMb(pid))), 50)
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'x-bench-stream': '1' }, body })
      return res.statusCode === 200 ? await res.body.text() : ''
    })
  )
  clearInterval(sampler)
  await pool.close()
  return { ok: results.filter((r) => r !== '').length, identical: results.filter((r) => r === streamBytes).length, peakMb, seconds: (performance.now() - started) / 1000 }
}

async function bigPrompts(url: string, strategy: string | undefined, requests: number, concurrency: number): Promise<{ p50: number; p99: number; errors: number }> {
  const pool = new Pool(url, { connections: concurrency })
  const latencies: number[] = []
  let errors = 0
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        // a distinct prompt each time: no cache, the whole 220 KB is hashed and parsed
        const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: `${next++} ${'word '.repeat(44 * 1024)}` }], max_tokens: 8 })
        const t0 = performance.now()
        try {
          const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', ...(strategy ? { 'routing-strategy': strategy } : {}) }, body })
          await res.body.text()
          if (res.statusCode !== 200) errors++
        } catch {
          errors++
        }
        latencies.push(performance.now() - t0)
      }
    })
  )
  await pool.close()
  latencies.sort((a, b) => a - b)
  return { p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)], errors }
}

async function main(): Promise<void> {
  const pod = await startPod()
  const cfg = join(mkdtempSync(join(tmpdir(), 'brixgate-bench-')), 'config.json')
  writeFileSync(cfg, JSON.stringify({ server: { host: '127.0.0.1', port: 0, logLevel: 'warn', bodyLimitBytes: 1048576 }, discovery: { static: { models: [{ name: 'bench', endpoints: [new URL(pod.url).host] }] } } }))
  const gw = await startChild(process.execPath, [here('../src/cli.js'), '--config', cfg])
  try {
    const s = await streams(gw.url, gw.child.pid!)
    console.log(`\n(a) ${STREAMS} concurrent streams of ${EVENTS} events: ${s.ok} complete, ${s.identical} byte-identical, gateway peak RSS ${fmt(s.peakMb, 0)} MB, ${fmt(s.seconds, 1)} s`)
    await bigPrompts(pod.url, undefined, 150, 150) // warm-up
    await bigPrompts(gw.url, undefined, 150, 150)
    const direct = await bigPrompts(pod.url, undefined, 1500, 150)
    const random = await bigPrompts(gw.url, 'random', 1500, 150)
    const prefix = await bigPrompts(gw.url, 'prefix-cache', 1500, 150)
    console.log('\n(b) 220 KB prompts, concurrency 150, 1500 requests each, same run:\n')
    console.log('| target | p50 ms | p99 ms | errors | added p50 |\n|---|---:|---:|---:|---:|')
    for (const [name, r] of [['direct', direct], ['brixgate random', random], ['brixgate prefix-cache', prefix]] as const) {
      console.log(`| ${name} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${r.errors} | ${name === 'direct' ? '' : `+${fmt(r.p50 - direct.p50, 1)} ms`} |`)
    }
  } finally {
    gw.stop()
    pod.close()
  }
}

await main()
process.exit(0)
