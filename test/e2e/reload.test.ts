import { writeFileSync } from 'node:fs'
import t from 'tap'
import { eventually } from '../helpers/eventually.js'
import { spawnCli, writeConfig } from '../helpers/gateway.js'
import { chat, post } from '../helpers/http.js'
import { answerJson, sseChunk, startPod } from '../helpers/pods.js'

// Hot reload of the real CLI: SIGHUP and file watch, validated first, streams untouched.
const words = Array.from({ length: 10 }, (_, i) => `w${i} `)
const generation = async (url: string) => ((await (await fetch(`${url}/readyz`)).json()) as { configGeneration: number }).configGeneration

t.test('SIGHUP: pods, limits, keys and strategy change for the next request; a stream in progress finishes', async (t) => {
  // pod A streams slowly (10 words over ~1 s) and answers JSON; pod B answers JSON
  const a = await startPod(async (_req, res, body) => {
    if (!JSON.parse(body.toString()).stream) return answerJson(res, 'a')
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const w of words) {
      res.write(sseChunk(w))
      await new Promise((r) => setTimeout(r, 100))
    }
    res.end('data: [DONE]\n\n')
  })
  const b = await startPod((_req, res) => answerJson(res, 'b'))
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const base = (over: Record<string, unknown> = {}) => ({
    server: { host: '127.0.0.1', port: 0 },
    discovery: { static: { models: [{ name: 'm', endpoints: [{ address: a.address, name: 'pod-a' }] }] } },
    rateLimit: { users: [{ name: 'alice', rpm: 1, tpm: 100_000 }] },
    ...over
  })
  const file = writeConfig(base())
  const cli = await spawnCli(['--config', file])
  t.teardown(() => cli.stop())
  t.equal(await generation(cli.url), 1)

  t.equal((await post(`${cli.url}/v1/chat/completions`, chat('m'), { user: 'alice' })).status, 200)
  t.equal((await post(`${cli.url}/v1/chat/completions`, chat('m'), { user: 'alice' })).status, 429, 'alice is at rpm 1')
  const stream = await post(`${cli.url}/v1/chat/completions`, chat('m', { stream: true }))
  t.equal(stream.headers.get('target-pod'), 'pod-a')
  const streamBody = stream.text()

  writeFileSync(file, JSON.stringify(base({
    discovery: { static: { models: [{ name: 'm', endpoints: [{ address: b.address, name: 'pod-b' }] }] } },
    rateLimit: { users: [{ name: 'alice', rpm: 100, tpm: 100_000 }] },
    routing: { defaultStrategy: 'least-request' },
    auth: { apiKeys: [{ key: 'key-of-alice', user: 'alice' }] }
  })))
  cli.child.kill('SIGHUP')
  await eventually(async () => (await generation(cli.url)) === 2, 5000, 'generation 2')
  await eventually(() => /config reloaded: generation 2/.test(cli.stdout()), 5000, 'the reload is logged')

  t.equal((await post(`${cli.url}/v1/chat/completions`, chat('m'))).status, 401, 'the new API keys apply')
  const after = await post(`${cli.url}/v1/chat/completions`, chat('m'), { authorization: 'Bearer key-of-alice' })
  t.equal(after.status, 200, 'alice has rpm 100 now')
  t.equal(after.headers.get('target-pod'), 'pod-b', 'the new static pods apply')
  t.equal(after.headers.get('routing-strategy'), 'least-request', 'the new default strategy applies')
  const text = await streamBody
  t.equal(text.match(/data: \{/g)?.length, 10, 'the stream that began before the reload got all its events')
  t.match(text, /data: \[DONE\]\n\n$/)

  const metrics = await (await fetch(`${cli.url}/metrics`)).text()
  t.match(metrics, /brixgate_config_generation 2/)
  t.match(metrics, /brixgate_config_reloads_total\{outcome="applied"\} 1/)
})

t.test('a bad file changes nothing and names the key path; restart-only keys are kept and named', async (t) => {
  const pod = await startPod((_req, res) => answerJson(res, 'p'))
  t.teardown(() => pod.close())
  const good = { server: { host: '127.0.0.1', port: 0 }, discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } }
  const file = writeConfig(good)
  const cli = await spawnCli(['--config', file])
  t.teardown(() => cli.stop())

  writeFileSync(file, JSON.stringify({ ...good, routing: { defaultStrategy: 'random', explian: true } }))
  cli.child.kill('SIGHUP')
  await eventually(() => /config reload rejected/.test(cli.stdout()), 5000, 'the rejection is logged')
  t.match(cli.stdout(), /routing\.explian: unknown key/)
  t.equal(await generation(cli.url), 1, 'nothing changed')
  t.equal((await post(`${cli.url}/v1/chat/completions`, chat('m'))).status, 200, 'still serving')

  writeFileSync(file, JSON.stringify({ ...good, routing: { defaultStrategy: 'no-such-strategy' } }))
  cli.child.kill('SIGHUP')
  await eventually(() => (cli.stdout().match(/config reload rejected/g) ?? []).length === 2, 5000, 'an unknown strategy is refused too')
  t.equal(await generation(cli.url), 1)

  writeFileSync(file, JSON.stringify({ ...good, server: { host: '127.0.0.1', port: 1, shutdownGraceMs: 5 }, routing: { explain: true } }))
  cli.child.kill('SIGHUP')
  await eventually(async () => (await generation(cli.url)) === 2, 5000, 'applied')
  await eventually(() => /server\.port, server\.shutdownGraceMs: they need a restart/.test(cli.stdout()), 5000, 'restart-only keys named')
  const res = await post(`${cli.url}/v1/chat/completions`, chat('m'))
  t.ok(res.headers.get('x-routing-reason'), 'routing.explain applied; the gateway still listens where it did')
  t.match(await (await fetch(`${cli.url}/metrics`)).text(), /brixgate_config_reloads_total\{outcome="rejected"\} 2/)
})

t.test('server.watchConfig reloads when the file changes, without a signal', async (t) => {
  const pod = await startPod((_req, res) => answerJson(res, 'p'))
  t.teardown(() => pod.close())
  const cfg = (explain: boolean) => ({ server: { host: '127.0.0.1', port: 0, watchConfig: true }, routing: { explain }, discovery: { static: { models: [{ name: 'm', endpoints: [pod.address] }] } } })
  const file = writeConfig(cfg(false))
  const cli = await spawnCli(['--config', file])
  t.teardown(() => cli.stop())
  t.notOk((await post(`${cli.url}/v1/chat/completions`, chat('m'))).headers.get('x-routing-reason'))
  writeFileSync(file, JSON.stringify(cfg(true)))
  await eventually(async () => (await generation(cli.url)) === 2, 5000, 'reloaded by the watch')
  t.ok((await post(`${cli.url}/v1/chat/completions`, chat('m'))).headers.get('x-routing-reason'))
})
