import OpenAI from 'openai'
import t from 'tap'
import type { Browser } from 'playwright-core'
import { DEMO_MODEL, startDemo, type Demo } from '../../src/demo.js'
import { silentLogger } from '../../src/observability/logger.js'
import type { StatusSnapshot } from '../../src/observability/status-snapshot.js'
import { launchBrowser } from '../helpers/browser.js'
import { startGateway } from '../helpers/gateway.js'
import { startSim } from '../../src/sim/server.js'

// The status page (/ui) in a real headless Chromium against the demo, and its JSON (/admin/status).
let demo: Demo
let browser: Browser | undefined

t.before(async () => {
  demo = await startDemo({ port: 0, host: '127.0.0.1', logger: silentLogger })
  browser = await launchBrowser()
})
t.teardown(async () => {
  await browser?.close()
  await demo.close()
})

t.test('GET /admin/status: pods with their state and load, decisions, per-user windows', async (t) => {
  const client = new OpenAI({ baseURL: `${demo.url}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: { user: 'alice' } })
  const res = await client.chat.completions.create({ model: DEMO_MODEL, messages: [{ role: 'user', content: 'status json' }], max_tokens: 4 }, { headers: { 'x-request-id': 'status-json-1' } })
  t.ok(res.usage?.total_tokens)
  const status = (await (await fetch(`${demo.url}/admin/status`)).json()) as StatusSnapshot
  t.equal(status.config.generation, 1)
  t.equal(status.config.defaultStrategy, 'cache-aware')
  t.same(status.models.map((m) => m.name), [DEMO_MODEL])
  t.same(status.models[0].adapters, ['sql-lora'])
  t.same(status.models[0].pods.map((p) => [p.name, p.gpu, p.state]), [
    ['demo-pod-a100', 'a100', 'routable'],
    ['demo-pod-h100', 'h100', 'routable'],
    ['demo-pod-l4', 'l4', 'routable']
  ])
  const d = status.decisions.find((x) => x.requestId === 'status-json-1')
  t.ok(d, 'the request is among the decisions')
  t.match(d, { model: DEMO_MODEL, user: 'alice', strategy: 'cache-aware', status: 200, stream: false, tokens: res.usage?.total_tokens })
  t.match(d?.reason, /cache-aware/)
  t.ok(status.models[0].pods.some((p) => p.name === d?.pod), 'the decision names a pod of the model')
  t.ok(Object.values(status.series).flat().some((p) => p.requests > 0), 'the per-pod series counted it')
  t.match(status.users.alice, { rpm: 120, tpm: 40_000 })
  t.equal(status.admission, null, 'the demo runs without the admission queue')
  t.ok(status.users.alice.requests >= 1)
})

t.test('the page in Chromium shows the demo pods, and a request sent meanwhile appears in the decisions', async (t) => {
  if (!browser) {
    t.comment('no chromium here (apt-get install chromium); CI installs it and fails without it')
    return
  }
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${demo.url}/ui`)
  for (const pod of ['demo-pod-l4', 'demo-pod-a100', 'demo-pod-h100']) {
    await page.locator(`tr[data-pod="${pod}"]`).waitFor({ timeout: 10_000 })
  }
  t.match(await page.locator('tr[data-pod="demo-pod-h100"]').innerText(), /h100\s+routable/)
  t.equal(await page.locator('#generation').innerText(), '1')

  const client = new OpenAI({ baseURL: `${demo.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const stream = await client.chat.completions.create(
    { model: DEMO_MODEL, messages: [{ role: 'user', content: 'hello page' }], max_tokens: 6, stream: true, stream_options: { include_usage: true } },
    { headers: { 'x-request-id': 'seen-in-the-browser' } }
  )
  for await (const chunk of stream) void chunk
  const row = page.locator('tr[data-request-id="seen-in-the-browser"]')
  await row.waitFor({ timeout: 10_000 }) // the page polls every 2 s
  t.match(await row.innerText(), /llama-3-8b[\s\S]*cache-aware[\s\S]*demo-pod-[\s\S]*200/)
  t.ok(await page.locator('.chart canvas').count() >= 2, 'the two per-pod charts are drawn')
  t.same(errors, [], 'no script errors')
  await page.close()
})

t.test('with an admin token the page and its JSON need it: Bearer, or Basic in a browser', async (t) => {
  const sim = await startSim({ model: 'm', timeScale: 0 })
  t.teardown(() => sim.close())
  const gw = await startGateway({ admin: { token: 'sekret-admin' }, discovery: { static: { models: [{ name: 'm', endpoints: [sim.address] }] } } })
  t.teardown(gw.close)
  const anon = await fetch(`${gw.url}/ui`)
  t.equal(anon.status, 401)
  t.match(anon.headers.get('www-authenticate'), /^Basic realm="brixgate"/)
  t.match(await anon.json(), { error: { code: 'invalid_api_key' } })
  t.equal((await fetch(`${gw.url}/admin/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401)
  const bearer = await fetch(`${gw.url}/admin/status`, { headers: { authorization: 'Bearer sekret-admin' } })
  t.equal(bearer.status, 200)
  t.same(((await bearer.json()) as StatusSnapshot).models[0].pods.map((p) => p.address), [sim.address])
  const basic = await fetch(`${gw.url}/ui/app.js`, { headers: { authorization: `Basic ${Buffer.from('anyone:sekret-admin').toString('base64')}` } })
  t.equal(basic.status, 200)
  t.match(basic.headers.get('content-type'), /javascript/)
  if (!browser) return
  const context = await browser.newContext({ httpCredentials: { username: 'ops', password: 'sekret-admin' } })
  const page = await context.newPage()
  await page.goto(`${gw.url}/ui`)
  await page.locator(`tr[data-pod="${sim.address}"]`).waitFor({ timeout: 10_000 })
  await context.close()
})

t.test('the vendored libraries are served from the gateway (the page works offline)', async (t) => {
  for (const path of ['/ui/vendor/preact-htm.mjs', '/ui/vendor/uplot.mjs', '/ui/vendor/uplot.css', '/ui/style.css']) {
    const res = await fetch(`${demo.url}${path}`)
    t.equal(res.status, 200, path)
    t.ok((await res.arrayBuffer()).byteLength > 500, `${path} has content`)
  }
  const html = await (await fetch(`${demo.url}/ui`)).text()
  t.notMatch(html, /https?:\/\//, 'no external asset in the page')
  t.equal((await fetch(`${demo.url}/ui/nothing.js`)).status, 404)
})
