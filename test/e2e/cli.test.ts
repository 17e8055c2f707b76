import t from 'tap'
import { startSim } from '../../src/sim/server.js'
import { runCli, spawnCli, writeConfig } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'

const minimal = (address = '127.0.0.1:9') => ({ discovery: { static: { models: [{ name: 'm', endpoints: [address] }] } } })

t.test('refuses to start without a config, and says how to give one', async (t) => {
  const r = await runCli([], { BRIXGATE_CONFIG: '' })
  t.not(r.code, 0)
  t.match(r.stderr, /--config FILE/)
  t.match(r.stderr, /BRIXGATE_CONFIG/)
})

t.test('config errors name the file, the key path and the problem', async (t) => {
  const unknownKey = writeConfig({ ...minimal(), server: { prot: 8080 } })
  const r1 = await runCli(['--config', unknownKey])
  t.not(r1.code, 0)
  t.match(r1.stderr, unknownKey)
  t.match(r1.stderr, /server\.prot: unknown key/)

  const badValue = writeConfig({ ...minimal(), server: { port: 'eighty' } })
  const r2 = await runCli(['--config', badValue])
  t.not(r2.code, 0)
  t.match(r2.stderr, /server\.port: .*number/i)

  const badEndpoint = writeConfig({ discovery: { static: { models: [{ name: 'm', endpoints: ['no-port'] }] } } })
  const r3 = await runCli(['--config', badEndpoint])
  t.match(r3.stderr, /discovery\.static\.models\.0\.endpoints\.0/)

  const noSource = writeConfig({ discovery: {} })
  t.match((await runCli(['--config', noSource])).stderr, /discovery: needs one source/)

  const badStrategy = writeConfig({ ...minimal(), routing: { defaultStrategy: 'nope' } })
  const r5 = await runCli(['--config', badStrategy])
  t.not(r5.code, 0)
  t.match(r5.stderr, /nope/)

  t.match((await runCli(['--config', '/nonexistent/brixgate.yaml'])).stderr, /\/nonexistent\/brixgate\.yaml: cannot read/)
})

t.test('BRIXGATE_CONFIG, --port override, JSON config, health, readiness and metrics', async (t) => {
  const file = writeConfig({ ...minimal(), server: { host: '127.0.0.1', port: 1 } }, 'json')
  const cli = await spawnCli(['--port', '0'], { BRIXGATE_CONFIG: file })
  t.teardown(() => cli.stop())
  t.not(new URL(cli.url).port, '1', '--port wins over the file')
  t.equal((await fetch(`${cli.url}/healthz`)).status, 200)
  t.equal((await fetch(`${cli.url}/readyz`)).status, 200)
  const metrics = await (await fetch(`${cli.url}/metrics`)).text()
  t.match(metrics, /brixgate_pods\{model="m",routable="true"\} 1/)
  t.match(metrics, /brixgate_process_/)
})

t.test('SIGTERM drains: a running stream finishes, then the process exits 0', async (t) => {
  const sim = await startSim({ model: 'm', decodeMsPerToken: 20, overheadMs: 0, prefillMsPerToken: 0 })
  t.teardown(() => sim.close())
  const cli = await spawnCli(['--config', writeConfig({ ...minimal(sim.address), server: { host: '127.0.0.1', port: 0 } })])
  const res = await post(`${cli.url}/v1/chat/completions`, chat('m', { stream: true, max_tokens: 25 }))
  const reader = res.body!.getReader()
  await reader.read()
  cli.child.kill('SIGTERM')
  let text = ''
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString()
  t.match(text, /data: \[DONE\]\n\n$/, 'the stream ran to its end')
  t.equal(await cli.exited, 0)
  await t.rejects(fetch(`${cli.url}/healthz`), 'no longer listening')
})

t.test('brixgate sim serves vLLM endpoints and metrics', async (t) => {
  const cli = await spawnCli(['sim', '--port', '0', '--model', 'tiny', '--lora', 'a,b', '--gpu', 'h100'])
  t.teardown(() => cli.stop())
  const models = (await (await fetch(`${cli.url}/v1/models`)).json()) as { data: { id: string; parent: string | null }[] }
  t.same(models.data.map((m) => [m.id, m.parent]), [['tiny', null], ['a', 'tiny'], ['b', 'tiny']])
  t.equal((await fetch(`${cli.url}/health`)).status, 200)
  const metrics = await (await fetch(`${cli.url}/metrics`)).text()
  for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc', 'vllm:time_to_first_token_seconds_bucket']) {
    t.match(metrics, name)
  }
  const unknown = await post(`${cli.url}/v1/chat/completions`, chat('other'))
  t.equal(unknown.status, 404)
  t.match(await unknown.json(), { error: { type: 'NotFoundError', code: 404 } })
  const badOpts = await post(`${cli.url}/v1/completions`, { model: 'tiny', prompt: 'x', stream_options: { include_usage: true } })
  t.equal(badOpts.status, 400, 'vLLM refuses stream_options without stream')
})

t.test('brixgate demo serves three pods behind a gateway', async (t) => {
  const cli = await spawnCli(['demo', '--port', '0'])
  t.teardown(() => cli.stop())
  const models = (await (await fetch(`${cli.url}/v1/models`)).json()) as { data: { id: string }[] }
  t.same(models.data.map((m) => m.id), ['llama-3-8b', 'sql-lora'])
  const pods = new Set<string>()
  await Promise.all(
    Array.from({ length: 9 }, async () => {
      const res = await post(`${cli.url}/v1/chat/completions`, chat('llama-3-8b', { max_tokens: 8 }))
      t.equal(res.status, 200)
      pods.add(String(res.headers.get('target-pod')))
      await res.arrayBuffer()
    })
  )
  t.equal(pods.size, 3, 'least-request uses every pod')
})

t.test('one access-log line per request at the default level; accessLog: false turns it off', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0 })
  t.teardown(() => sim.close())
  for (const accessLog of [true, false]) {
    const cli = await spawnCli(['--config', writeConfig({ ...minimal(sim.address), server: { host: '127.0.0.1', port: 0, accessLog }, rateLimit: { users: [{ name: 'someone', rpm: 10, tpm: 10000 }] } })])
    const res = await post(`${cli.url}/v1/chat/completions`, chat('m', { max_tokens: 2 }), { 'x-request-id': `log-${accessLog}`, user: 'someone' })
    t.equal(res.status, 200)
    await res.arrayBuffer()
    await new Promise((r) => setTimeout(r, 200))
    await cli.stop()
    const lines = cli.stdout().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>)
    if (!accessLog) {
      t.same(lines, [], 'off')
      continue
    }
    t.equal(lines.length, 1)
    t.match(lines[0], { level: 30, requestId: 'log-true', model: 'm', user: 'someone', strategy: 'random', pod: sim.address, status: 200, stream: false, tokens: Number })
    t.type(lines[0].ms, 'number')
  }
})

t.test('log lines are written in batches: a lone line still reaches stdout while the gateway runs', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0 })
  t.teardown(() => sim.close())
  const cli = await spawnCli(['--config', writeConfig({ ...minimal(sim.address), server: { host: '127.0.0.1', port: 0, logFlushMs: 300 } })])
  t.teardown(() => cli.stop())
  const res = await post(`${cli.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { 'x-request-id': 'lone-line' })
  await res.arrayBuffer()
  const sent = performance.now()
  const logged = () => cli.stdout().includes('"requestId":"lone-line"')
  while (!logged() && performance.now() - sent < 5000) await new Promise((r) => setTimeout(r, 10))
  t.ok(logged(), `the line came without a stop or more traffic (${(performance.now() - sent).toFixed(0)} ms)`)
  t.equal(cli.child.exitCode, null, 'the gateway is still running')
})

t.test('every access-log line reaches stdout, also when the process is stopped right after a burst', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0 })
  t.teardown(() => sim.close())
  const cli = await spawnCli(['--config', writeConfig({ ...minimal(sim.address), server: { host: '127.0.0.1', port: 0 } })])
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(`${cli.url}/v1/chat/completions`, chat('m', { max_tokens: 1 }), { 'x-request-id': `burst-${i}` })))
  for (const a of answers) await a.arrayBuffer()
  t.same(new Set(answers.map((a) => a.status)), new Set([200]))
  t.equal(await cli.stop(), 0, 'stopped at once, no wait for the log')
  const ids = new Set(cli.stdout().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => (JSON.parse(l) as { requestId: string }).requestId))
  t.equal(ids.size, 200, 'one line per request, all flushed')
})
